"""Pure pieces of the deploy path: asset zips, template diff, outputs, error wrapping."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from deployer.aws.assets import region_of, zip_directory
from deployer.aws.cloudformation import Change
from deployer.aws.deploy import complete_outputs, template_diff
from deployer.aws.errors import aws_call
from deployer.errors import DeployerError


def test_directory_zips_are_reproducible_and_keep_modes(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "b.py").write_text("b = 1\n")
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "run.sh", 0o755)
    first = zip_directory(tmp_path)
    os.utime(tmp_path / "a.py", (1, 1))
    assert zip_directory(tmp_path) == first  # timestamps do not matter
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["a.py", "run.sh", "pkg/b.py"]
        assert (archive.getinfo("run.sh").external_attr >> 16) & 0o777 == 0o755
        assert archive.getinfo("a.py").date_time == (1980, 1, 1, 0, 0, 0)


def test_bootstrap_bucket_names_carry_their_region() -> None:
    assert region_of("cdk-hnb659fds-assets-111111111111-eu-west-1") == "eu-west-1"
    assert region_of("cdk-hnb659fds-assets-111111111111-us-gov-west-1") == "us-gov-west-1"


def test_template_diff_lists_added_removed_and_modified_resources() -> None:
    old = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 512}},
                         "V1": {"Type": "AWS::Lambda::Version"}}, "Outputs": {"A": {"Value": "1"}}}
    new = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 1024}},
                         "V2": {"Type": "AWS::Lambda::Version"}}, "Outputs": {"A": {"Value": "1"}}}
    assert template_diff(old, new) == ["+ AWS::Lambda::Version V2", "- AWS::Lambda::Version V1",
                                       "~ AWS::Lambda::Function Fn"]
    assert template_diff(new, new) == []


def test_missing_outputs_are_completed_from_stack_resources() -> None:
    template = {"Outputs": {"FunctionName": {"Value": {"Ref": "Fn"}},
                            "FunctionVersion": {"Value": {"Fn::GetAtt": ["V", "Version"]}},
                            "FunctionUrl": {"Value": {"Fn::GetAtt": ["Url", "FunctionUrl"]}}}}
    ids = {"Fn": "my-fn", "V": "arn:aws:lambda:eu-west-1:1:function:my-fn:7"}
    assert complete_outputs({}, template, lambda: ids) == {"FunctionName": "my-fn", "FunctionVersion": "7"}
    present = {"FunctionName": "x", "FunctionVersion": "3", "FunctionUrl": "https://u"}
    assert complete_outputs(present, template, lambda: pytest.fail("not needed")) == present


def test_client_errors_name_the_operation_the_resource_and_a_fix() -> None:
    error = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CreateChangeSet")
    with pytest.raises(DeployerError) as raised, aws_call("cloudformation:CreateChangeSet", "my-stack"):
        raise error
    text = str(raised.value)
    assert "cloudformation:CreateChangeSet on my-stack failed: AccessDenied: no" in text
    assert "hint:" in text and "permission" in text


def test_changes_render_like_a_plan() -> None:
    assert str(Change("Add", "V2", "AWS::Lambda::Version", "")) == "+ AWS::Lambda::Version V2"
    assert str(Change("Modify", "T", "AWS::DynamoDB::Table", "True")) == "~ AWS::DynamoDB::Table T (replacement)"
