"""`deployer status`, `rollback` and `alerts` for a deployed environment, against a real moto server.

The stack's outputs name the Step Functions rollout (as infra/ writes them); moto keeps the
execution RUNNING until it is stopped, which is what a rollback in the middle of a rollout meets.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from deployer.ops.rollout import rollout_status, stop_rollout
from deployer.ops.target import OpsTarget
from tests.helpers.ops_aws import DEPLOYER, ENV, ROOT, SPEC, publish_versions


def start_rollout(target: OpsTarget) -> str:
    """A state machine named as infra/ names it, one RUNNING execution, and the stack output."""
    sfn = target.endpoint.client("stepfunctions")
    definition = {"StartAt": "Bake", "States": {"Bake": {"Type": "Wait", "Seconds": 300, "End": True}}}
    arn = sfn.create_state_machine(name=f"{target.stack_name}-rollout", definition=json.dumps(definition),
                                   roleArn="arn:aws:iam::123456789012:role/rollout")["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"stable": "1", "candidate": "2"}))
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                "Outputs": {"RolloutStateMachineArn": {"Value": arn}}}
    target.endpoint.client("cloudformation").create_stack(StackName=target.stack_name, TemplateBody=json.dumps(template))
    return str(execution["executionArn"])


def put_alarms(target: OpsTarget, firing: str) -> None:
    cloudwatch = target.endpoint.client("cloudwatch")
    for alarm in target.model.alarms:
        name = target.alarm_name(alarm.name)
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="Deployer", MetricName=alarm.metric, Statistic="Sum", Period=alarm.period_s,
            EvaluationPeriods=1, Threshold=alarm.threshold, ComparisonOperator=alarm.comparison,
            AlarmActions=[f"arn:aws:sns:{target.model.region}:123456789012:{n}" for n in alarm.notify])
        if alarm.name == firing:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="Threshold Crossed: 30 > 2")


def cli(target: OpsTarget, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": str(target.endpoint.url), "COLUMNS": "200"}
    return subprocess.run([DEPLOYER, *args, "--spec", str(SPEC), "--env", ENV], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)


def test_rollout_status_reads_the_running_step_functions_execution(target: OpsTarget) -> None:
    execution = start_rollout(target)
    status = rollout_status(target)
    assert status is not None
    assert (status["engine"], status["id"], status["status"], status["in_progress"]) == \
        ("stepfunctions", execution, "running", True)


def test_rollout_status_without_a_stack_names_the_stack_and_what_to_do(target: OpsTarget) -> None:
    from deployer.errors import DeployerError

    with pytest.raises(DeployerError) as caught:
        rollout_status(target)
    assert target.stack_name in caught.value.message and "deployer deploy --env staging" in (caught.value.hint or "")


def test_stop_rollout_aborts_the_execution_and_is_a_no_op_after(target: OpsTarget) -> None:
    execution = start_rollout(target)
    stopped = stop_rollout(target, "bad canary")
    assert stopped is not None and stopped["stopped"] and stopped["id"] == execution
    assert target.endpoint.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "ABORTED"
    assert stop_rollout(target, "again") is None


def test_status_command_shows_weights_rollout_and_alarm_states_from_aws(target: OpsTarget) -> None:
    publish_versions(target, 2, canary_weight=0.05)
    start_rollout(target)
    put_alarms(target, firing="error_rate_spike")
    people = cli(target, "status")
    assert people.returncode == 0, people.stderr
    assert "v1 95 %, v2 5 %" in people.stdout
    assert "rollout (stepfunctions): running" in people.stdout
    assert "ALARM" in people.stdout and "error_rate_spike" in people.stdout
    view = json.loads(cli(target, "status", "--json").stdout)
    assert view["routing"] == {"primary": "1", "additional": {"2": 0.05}}
    states = {a["name"]: a["state"] for a in view["alarms"]}
    assert states["error_rate_spike"] == "ALARM" and states["latency_spike"] != "ALARM"


def test_rollback_command_while_alarms_fire_stops_the_rollout_and_records_who_and_why(target: OpsTarget) -> None:
    publish_versions(target, 2, canary_weight=0.05)
    execution = start_rollout(target)
    put_alarms(target, firing="error_rate_spike")
    result = cli(target, "rollback", "--reason", "error spike on v2", "--json")
    assert result.returncode == 0, result.stderr
    done = json.loads(result.stdout)
    assert (done["version"], done["previous"], done["canary"]) == ("1", "1", ["2"])
    assert done["stopped_rollout"] == execution and done["reason"] == "error spike on v2" and done["who"]
    assert target.endpoint.client("stepfunctions").describe_execution(executionArn=execution)["status"] == "ABORTED"
    alias = target.endpoint.client("lambda").get_alias(FunctionName=target.function_name, Name=target.model.alias)
    assert alias["FunctionVersion"] == "1" and not alias["RoutingConfig"].get("AdditionalVersionWeights")


def test_rollback_command_with_a_single_version_says_there_is_nothing_to_go_back_to(target: OpsTarget) -> None:
    publish_versions(target, 1)
    result = cli(target, "rollback")
    assert result.returncode == 1
    assert "no previous version to roll back to: version 1 is the only one deployed" in result.stderr


def test_alerts_command_lists_alarm_changes_and_the_topics_notified(target: OpsTarget) -> None:
    put_alarms(target, firing="error_rate_spike")
    result = cli(target, "alerts", "--json")
    assert result.returncode == 0, result.stderr
    history = json.loads(result.stdout)
    firing = [h for h in history if h["state"] == "ALARM"]
    assert [h["alarm"] for h in firing] == [target.alarm_name("error_rate_spike")]
    assert firing[0]["targets"] == ["page_oncall"] and firing[0]["reason"] == "Threshold Crossed: 30 > 2"


def test_alerts_command_with_no_alarms_says_so(target: OpsTarget) -> None:
    result = cli(target, "alerts")
    assert result.returncode == 0, result.stderr
    assert f"no alarm state changes recorded for {ENV}" in result.stdout
