"""`deployer deploy` and `deployer diff` over the boto3 path, against a real moto server.

The same code that deploys to AWS, pointed at moto on 127.0.0.1. The account is "bootstrapped"
the way `cdk bootstrap` leaves it (assets bucket, version parameter); nothing in the deploy path
knows it talks to moto. moto's CloudFormation skips aliases, alarms, URLs, subscriptions and
CodeDeploy (FACTS.md) and reports no outputs for change sets, so what those would do is covered by
the CDK assertions of tests/infra; here: assets, change sets, wait, resources, outputs, diff,
rollout start and the deploy record.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployer import naming
from deployer.aws.clients import AwsClients
from deployer.aws.deploy import DeployOptions, Prepared, deploy_stack, diff_stack, record_deploy, start_rollout
from deployer.aws.dynamodb import request_table_definition
from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from tests.helpers.moto_server import moto_server

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "agent.yaml"
ENV = "staging"
ACCOUNT = "111111111111"  # agent.yaml's staging account


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server(account=ACCOUNT) as url:
        yield url


@pytest.fixture(scope="module")
def model() -> DeploymentModel:
    from deployer.compiler import compile_environment
    from deployer.spec.loader import load_spec

    return compile_environment(load_spec(SPEC), ENV)


@pytest.fixture(scope="module")
def clients(moto_url: str, model: DeploymentModel) -> AwsClients:
    clients = AwsClients.for_region(model.region, endpoint_url=moto_url)
    bootstrap(moto_url, model.region)
    return clients


def bootstrap(url: str, region: str) -> None:
    """What `cdk bootstrap` leaves in an account: the assets bucket and the version parameter."""
    import boto3

    boto3.client("s3", region_name=region, endpoint_url=url).create_bucket(
        Bucket=naming.assets_bucket(ACCOUNT, region), CreateBucketConfiguration={"LocationConstraint": region})
    boto3.client("ssm", region_name=region, endpoint_url=url).put_parameter(
        Name=f"/cdk-bootstrap/{naming.BOOTSTRAP_QUALIFIER}/version", Value="30", Type="String")


@pytest.fixture(scope="module")
def stub_bundle(tmp_path_factory: pytest.TempPathFactory) -> str:
    bundle = tmp_path_factory.mktemp("bundle") / "support-router-staging-0123456789abcdef"
    (bundle / "handlers").mkdir(parents=True)
    (bundle / "handlers" / "runtime.py").write_text("def handler(event, context):\n    return {}\n")
    return str(bundle)


@pytest.fixture(scope="module")
def first_deploy(clients: AwsClients, model: DeploymentModel, stub_bundle: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Any:
    options = DeployOptions(out_dir=tmp_path_factory.mktemp("first") / "cdk.out", poll_s=0.02, bundle_dir=stub_bundle)
    return deploy_stack(model, clients=clients, options=options)


def test_first_deploy_creates_the_stack_from_uploaded_assets(first_deploy: Any, clients: AwsClients,
                                                             model: DeploymentModel) -> None:
    assert first_deploy.status == "created"
    assert first_deploy.stack == "support-router-staging"
    assert first_deploy.uploaded_assets >= 3  # agent bundle, forwarder, template
    keys = [o["Key"] for o in clients.objects.client.list_objects_v2(
        Bucket=naming.assets_bucket(ACCOUNT, model.region))["Contents"]]
    assert any(k.endswith(".zip") for k in keys) and any(k.endswith(".json") for k in keys)
    assert clients.stacks.describe(first_deploy.stack)["StackStatus"] == "CREATE_COMPLETE"  # type: ignore[index]
    assert {c.action for c in first_deploy.changes} == {"Add"}


def test_the_function_and_the_request_table_exist_as_the_template_says(first_deploy: Any, clients: AwsClients,
                                                                       model: DeploymentModel, moto_url: str) -> None:
    import boto3

    fn = clients.functions.client.get_function(FunctionName=model.function.name)["Configuration"]
    assert fn["Handler"] == "handlers.runtime.handler" and fn["Runtime"] == "python3.12"
    assert fn["MemorySize"] == model.function.memory_mb
    assert fn["Environment"]["Variables"][naming.SPEC_HASH_ENV] == model.spec_hash
    table = boto3.client("dynamodb", region_name=model.region, endpoint_url=moto_url).describe_table(
        TableName=model.request_log.table_name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "request_id", "KeyType": "HASH"}]
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == "by_outcome"
    # the table boto3 creators make (the emulator, tests, benchmarks) is the one the stack makes
    defined = request_table_definition(model.request_log.table_name)
    assert [(i["IndexName"], i["KeySchema"], i["Projection"]) for i in table["GlobalSecondaryIndexes"]] == \
        [(i["IndexName"], i["KeySchema"], i["Projection"]) for i in defined["GlobalSecondaryIndexes"]]
    assert table["KeySchema"] == defined["KeySchema"]


def test_outputs_name_the_function_table_topics_and_state_machine(first_deploy: Any, model: DeploymentModel) -> None:
    outputs = first_deploy.outputs
    assert outputs[naming.OUTPUT_FUNCTION_NAME] == model.function.name
    assert outputs[naming.OUTPUT_TABLE_NAME] == model.request_log.table_name
    assert outputs[naming.OUTPUT_STATE_MACHINE_ARN].endswith(":stateMachine:support-router-staging-rollout")
    assert outputs["TopicPageOncall"].endswith(":support-router-staging-page-oncall")


def test_redeploying_the_same_spec_changes_nothing(first_deploy: Any, clients: AwsClients, model: DeploymentModel,
                                                  stub_bundle: str, tmp_path: Path) -> None:
    again = deploy_stack(model, clients=clients, options=DeployOptions(
        out_dir=tmp_path / "cdk.out", poll_s=0.02, bundle_dir=stub_bundle))
    assert again.status == "unchanged"
    assert again.uploaded_assets == 0  # content-addressed: nothing new to upload


def test_a_config_only_change_shows_a_new_version_in_diff_then_updates(
        first_deploy: Any, clients: AwsClients, model: DeploymentModel, stub_bundle: str, tmp_path: Path) -> None:
    changed = dataclasses.replace(model, spec_hash="f" * 16)
    options = DeployOptions(out_dir=tmp_path / "cdk.out", poll_s=0.02, bundle_dir=stub_bundle)
    diff = diff_stack(changed, clients=clients, options=options)
    assert diff.exists
    actions = {(c.action, c.resource_type) for c in diff.changes}
    assert ("Add", "AWS::Lambda::Version") in actions and ("Remove", "AWS::Lambda::Version") in actions
    assert any(line.startswith("~ AWS::Lambda::Function AgentFunction") for line in diff.template_changes)
    assert any(line.startswith("~ AWS::CloudWatch::Alarm") for line in diff.template_changes)  # new Version dimension
    left = clients.stacks.client.list_change_sets(StackName=diff.stack)["Summaries"]
    assert not [c for c in left if c["ChangeSetName"].startswith("deployer-diff-")]  # diff leaves none behind
    updated = deploy_stack(changed, clients=clients, options=options)
    assert updated.status == "updated"
    fn = clients.functions.client.get_function(FunctionName=model.function.name)["Configuration"]
    assert fn["Environment"]["Variables"][naming.SPEC_HASH_ENV] == "f" * 16


def test_a_step_functions_rollout_starts_from_the_served_version(
        first_deploy: Any, clients: AwsClients, model: DeploymentModel, stub_bundle: str) -> None:
    prepared = Prepared(model, first_deploy.stack, ACCOUNT, "1", stub_bundle, None)  # type: ignore[arg-type]
    execution, status, cause = start_rollout(prepared, "2", first_deploy.outputs, clients, DeployOptions())
    assert status == "RUNNING" and execution is not None and cause is None
    described = clients.state_machines.client.describe_execution(executionArn=execution)
    assert json.loads(described["input"]) == {"stable": "1", "candidate": "2"}
    none = start_rollout(prepared, "1", first_deploy.outputs, clients, DeployOptions())
    assert none == (None, None, None)  # nothing to shift when the served version is the new one


@pytest.mark.parametrize(("status", "cause", "fails"), [
    ("SUCCEEDED", None, False), ("RUNNING", None, False), (None, None, False),
    ("FAILED", "step 1 (5 %): not enough evidence: 3 of 100 requests", True), ("TIMED_OUT", "TIMED_OUT", True),
    ("ABORTED", "ABORTED", True),
])
def test_deploy_wait_fails_unless_the_rollout_promoted_the_version(status: str | None, cause: str | None,
                                                                   fails: bool) -> None:
    from deployer.commands.infra import _fail_unless_promoted
    from deployer.ops.deploy import DeployOutcome

    rollout = {"execution": "arn:execution", "status": status, "cause": cause} if status else None
    outcome = DeployOutcome("production", False, "8", True, "updated", rollout)
    if not fails:
        _fail_unless_promoted(outcome, "production")
        return
    with pytest.raises(DeployerError, match=f"rollout of version 8 ended {status}") as raised:
        _fail_unless_promoted(outcome, "production")
    assert cause in raised.value.message and "deployer status --env production" in (raised.value.hint or "")


def test_the_deploy_is_recorded_in_the_request_log(first_deploy: Any, clients: AwsClients, model: DeploymentModel,
                                                   stub_bundle: str) -> None:
    prepared = Prepared(model, first_deploy.stack, ACCOUNT, None, stub_bundle, None)  # type: ignore[arg-type]
    record_deploy(prepared, "3", clients)
    item = clients.request_table(model.request_log.table_name).get(f"deploy#{ENV}#3")
    assert item is not None and item["outcome"]["S"] == "deploy"


def test_credentials_for_another_account_are_refused(clients: AwsClients, model: DeploymentModel,
                                                     tmp_path: Path) -> None:
    other = dataclasses.replace(model, account="999999999999")
    with pytest.raises(DeployerError, match="credentials are for account 111111111111"):
        deploy_stack(other, clients=clients, options=DeployOptions(out_dir=tmp_path / "cdk.out"))


def test_an_unbootstrapped_region_says_to_run_cdk_bootstrap(moto_url: str, model: DeploymentModel, stub_bundle: str,
                                                            tmp_path: Path) -> None:
    elsewhere = dataclasses.replace(model, region="ap-southeast-2")
    with pytest.raises(DeployerError) as raised:
        deploy_stack(elsewhere, clients=AwsClients.for_region("ap-southeast-2", endpoint_url=moto_url),
                     options=DeployOptions(out_dir=tmp_path / "cdk.out", poll_s=0.02, bundle_dir=stub_bundle))
    assert "cdk bootstrap" in str(raised.value)


def test_cli_deploy_builds_the_bundle_and_prints_outputs(first_deploy: Any, moto_url: str,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from deployer.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    main(["deploy", "--spec", str(SPEC), "--env", ENV, "--out", str(tmp_path / "cdk.out"), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["stack"] == "support-router-staging" and result["status"] == "updated"  # the real bundle differs
    assert result["outputs"][naming.OUTPUT_FUNCTION_NAME] == "support-router-staging"


def test_cli_diff_lists_the_changes(first_deploy: Any, moto_url: str, monkeypatch: pytest.MonkeyPatch,
                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from deployer.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    main(["diff", "--spec", str(SPEC), "--env", ENV, "--out", str(tmp_path / "cdk.out")])
    out = capsys.readouterr().out
    assert out.startswith("support-router-staging:")


def test_cli_deploy_of_a_local_environment_goes_to_the_emulator(tmp_path: Path) -> None:
    from deployer.cli import main

    assert main(["deploy", "--spec", str(SPEC), "--env", "local"]) == 1  # no emulator is running: deploy_local says so


def test_cli_synth_writes_templates_and_reports_nag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from deployer.cli import main

    main(["synth", "--spec", str(SPEC), "--env", ENV, "--out", str(tmp_path / "cdk.out")])
    out = capsys.readouterr().out
    assert (tmp_path / "cdk.out" / "support-router-staging.template.json").exists()
    assert "0 open findings" in out


def test_a_deploy_is_refused_while_a_rollout_is_running(clients: AwsClients) -> None:
    from deployer.aws.deploy import refuse_during_rollout

    arn = clients.state_machines.client.create_state_machine(
        name="busy-rollout", definition='{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}',
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/r")["stateMachineArn"]
    stack = {"Outputs": [{"OutputKey": naming.OUTPUT_STATE_MACHINE_ARN, "OutputValue": arn}]}
    refuse_during_rollout(stack, clients)  # nothing running yet
    clients.state_machines.start(arn, "inflight", {"stable": "1", "candidate": "2"})
    with pytest.raises(DeployerError, match="a rollout is still running"):
        refuse_during_rollout(stack, clients)


def test_diff_of_a_stack_not_deployed_yet_lists_what_it_would_create(
        clients: AwsClients, model: DeploymentModel, stub_bundle: str, tmp_path: Path) -> None:
    fresh = dataclasses.replace(model, environment="qa")
    result = diff_stack(fresh, clients=clients, options=DeployOptions(out_dir=tmp_path / "cdk.out",
                                                                      bundle_dir=stub_bundle))
    assert result.stack == "support-router-qa" and not result.exists
    assert "+ AWS::Lambda::Function AgentFunctionB8994DEA" in result.template_changes
    assert any(line.startswith("+ AWS::StepFunctions::StateMachine") for line in result.template_changes)
