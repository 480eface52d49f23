"""Finding the deployed Function URL of an AWS environment (moto), and whether it needs SigV4."""

from __future__ import annotations

import io
import zipfile

import boto3
import pytest
from moto import mock_aws

from deployer.aws.lambda_ import Functions
from deployer.errors import DeployerError
from deployer.loadtest.plan import Overrides, resolve_plan
from deployer.loadtest.target import function_url
from tests.helpers.loadtest_target import local_model


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


@mock_aws
def test_function_url_of_the_live_alias_and_its_auth_type(tmp_path) -> None:
    model = local_model(region="eu-west-1")
    client = boto3.client("lambda", region_name="eu-west-1")
    role = boto3.client("iam", region_name="eu-west-1").create_role(
        RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client.create_function(FunctionName=model.function.name, Runtime="python3.12", Role=role,
                           Handler="index.handler", Code={"ZipFile": _zip()}, Publish=True)
    client.create_alias(FunctionName=model.function.name, Name=model.alias, FunctionVersion="1")
    created = client.create_function_url_config(FunctionName=model.function.name, Qualifier=model.alias,
                                                AuthType="AWS_IAM")
    resolved = function_url(model, functions=Functions(client))
    assert resolved.url == created["FunctionUrl"]
    assert resolved.iam_auth is True
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"message": "hi"}\n')
    plan = resolve_plan(model, Overrides(input_file=str(inputs)), target_url=resolved.url, iam_auth=resolved.iam_auth)
    assert plan.target_url == resolved.url.rstrip("/")
    assert plan.sigv4_region == "eu-west-1"  # IAM auth: every request is signed for the URL's region


@mock_aws
def test_a_missing_function_url_says_to_deploy_first() -> None:
    model = local_model()
    with pytest.raises(DeployerError, match="deploy the environment first"):
        function_url(model, functions=Functions(boto3.client("lambda", region_name=model.region)))
