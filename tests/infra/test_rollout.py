"""Rollout: CodeDeploy deployment configs and groups, the Step Functions state machine."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Capture, Match

from deployer.naming import alarm_name
from tests.infra.conftest import Synthesized


def test_canary_deployment_config_carries_the_policy_numbers(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    name = synthesized.hand["canary"]
    config = synthesized.models[name].rollout.codedeploy
    assert config is not None
    templates[name].has_resource_properties("AWS::CodeDeploy::DeploymentConfig", {
        "ComputePlatform": "Lambda", "DeploymentConfigName": config.name,
        "TrafficRoutingConfig": {"Type": "TimeBasedCanary",
                                 "TimeBasedCanary": {"CanaryInterval": 5, "CanaryPercentage": 10}},
    })


def test_linear_deployment_config_carries_the_policy_numbers(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    templates[synthesized.hand["linear"]].has_resource_properties("AWS::CodeDeploy::DeploymentConfig", {
        "TrafficRoutingConfig": {"Type": "TimeBasedLinear",
                                 "TimeBasedLinear": {"LinearInterval": 2, "LinearPercentage": 20}},
    })


def test_all_at_once_deployment_config_has_no_steps(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    templates[synthesized.hand["all_at_once"]].has_resource_properties("AWS::CodeDeploy::DeploymentConfig", {
        "TrafficRoutingConfig": {"Type": "AllAtOnce"}})


def test_deployment_group_gates_on_the_rollout_alarms_and_rolls_back(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    name = synthesized.hand["canary"]
    model = synthesized.models[name]
    alarms = Capture()
    template = templates[name]
    template.resource_count_is("AWS::CodeDeploy::Application", 1)
    template.resource_count_is("AWS::StepFunctions::StateMachine", 0)
    template.has_resource_properties("AWS::CodeDeploy::DeploymentGroup", {
        "AlarmConfiguration": {"Enabled": True, "Alarms": alarms},
        "AutoRollbackConfiguration": {"Enabled": True, "Events": Match.array_with(
            ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST", "DEPLOYMENT_STOP_ON_ALARM"])},
        "DeploymentStyle": {"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"},
    })
    assert len(alarms.as_array()) == len(model.rollout.gating_alarms)


def test_codedeploy_state_changes_notify_the_rollout_targets(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    templates[synthesized.hand["canary"]].has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {"source": ["aws.codedeploy"],
                         "detail-type": ["CodeDeploy Deployment State-change Notification"],
                         "detail": Match.object_like({"state": ["FAILURE", "SUCCESS", "STOP"]})},
        "Targets": [Match.object_like({"Arn": {"Ref": Match.string_like_regexp("NotificationsoncallTopic")}})],
    })


def definition(synthesized: Synthesized, stack: str) -> dict[str, Any]:
    """The state machine definition with every CloudFormation token replaced by a marker."""
    template = synthesized.template_json(stack)
    machine = next(r for r in template["Resources"].values()  # type: ignore[attr-defined]
                   if r["Type"] == "AWS::StepFunctions::StateMachine")
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "TOKEN" for p in parts)
    return json.loads(text)  # type: ignore[no-any-return]


def test_state_machine_walks_the_compiled_steps_with_checks_retries_and_a_rollback_on_any_failure(
        synthesized: Synthesized) -> None:
    """Structure only: tests/stepfunctions/ executes these definitions."""
    for stack, model in synthesized.models.items():
        if model.rollout.engine != "stepfunctions":
            continue
        doc = definition(synthesized, stack)
        states = doc["States"]
        r = model.rollout
        assert doc["QueryLanguage"] == "JSONata"
        assert doc["TimeoutSeconds"] > r.max_duration_s  # the definition's own limit comes first
        assert states["Start"]["Assign"]["deadline"] == f"{{% $millis() + {r.max_duration_s * 1000} %}}"
        for index, step in enumerate(r.steps):
            shift = states[f"Shift{index}"]
            assert shift["Resource"].endswith(":states:::aws-sdk:lambda:updateAlias")
            assert shift["Assign"] == {"stepStart": "{% $millis() %}"}
            assert states[f"Wait{index}"] == {"Type": "Wait", "Seconds": r.check_interval_s, "Next": after_wait(states,
                                                                                                            index)}
            tasks = [shift, states.get(f"Check{index}"), states.get(f"Traffic{index}")]
            for task in filter(None, tasks):
                assert task["Retry"][0]["ErrorEquals"] == ["States.ALL"] and task["Retry"][0]["MaxAttempts"] >= 3
                assert task["Catch"][0]["ErrorEquals"] == ["States.ALL"] and task["Catch"][0]["Next"] == "Rollback"
            if r.gating_alarms:
                check = states[f"Check{index}"]
                assert check["Resource"].endswith(":states:::aws-sdk:cloudwatch:describeAlarms")
                assert "StateValue" not in check["Arguments"]  # filtered in the expression instead
                assert len(check["Arguments"]["AlarmNames"]) == len(r.gating_alarms)
            gate = states[f"Gate{index}"]
            assert gate["Choices"][0]["Next"] == f"AlarmFired{index}"
            assert gate["Choices"][1]["Next"] == f"TooLate{index}"
            assert gate["Default"] == f"Wait{index}"
            choices = gate["Choices"][2:]
            if r.quality is not None and index < len(r.steps) - 1:
                assert choices[0] == {"Condition": "{% $qualityReason != '' %}", "Next": f"QualityDrop{index}"}
                assert states[f"Quality{index}"]["Resource"].endswith(":states:::aws-sdk:cloudwatch:getMetricData")
                choices = choices[1:]
            if index < len(r.steps) - 1:
                assert shift["Arguments"]["FunctionVersion"] == "{% $stable %}"
                weight = shift["Arguments"]["RoutingConfig"]["AdditionalVersionWeights"]
                assert weight == f"{{% {{$candidate: {round(step.percent / 100, 6)}}} %}}"
                traffic = states[f"Traffic{index}"]
                assert traffic["Resource"].endswith(":states:::aws-sdk:cloudwatch:getMetricStatistics")
                assert traffic["Arguments"]["MetricName"] == "Invocations"
                assert traffic["Arguments"]["Period"] == step.metric_period_s
                assert {"Name": "Version", "Value": "{% $candidate %}"} in traffic["Arguments"]["Dimensions"]
                assert traffic["Assign"]["served"] == "{% $round($sum([$states.result.Datapoints.Sum])) %}"
                assert choices[0] == {"Next": f"Passed{index}", "Condition": (
                    f"{{% ($millis() - $stepStart) >= {step.bake_s * 1000} and $served >= {step.min_requests} "
                    f"and $millis() >= $readyAt %}}")}
                assert choices[1] == {"Next": f"NoEvidence{index}", "Condition": (
                    f"{{% ($millis() - $stepStart) >= {step.hold_limit_s * 1000} %}}")}
            else:
                assert shift["Arguments"]["FunctionVersion"] == "{% $candidate %}"
                assert shift["Arguments"]["RoutingConfig"]["AdditionalVersionWeights"] == "{% {} %}"
                assert f"Traffic{index}" not in states
                assert choices[0] == {"Next": f"Passed{index}",
                                      "Condition": f"{{% ($millis() - $stepStart) >= {r.watch_s * 1000} %}}"}
        assert f"Shift{len(r.steps)}" not in states
        rollback = states["Rollback"]
        assert rollback["Arguments"]["FunctionVersion"] == "{% $stable %}"
        assert rollback["Arguments"]["RoutingConfig"]["AdditionalVersionWeights"] == "{% {} %}"
        assert rollback["Retry"][0]["MaxAttempts"] >= 5 and rollback["Catch"][0]["ErrorEquals"] == ["States.ALL"]
        assert states["RolledBack"] == {"Type": "Fail", "Error": "RolloutRolledBack", "Cause": "{% $reason %}"}
        assert states["RollbackFailed"]["Error"] == "RollbackFailed"


def after_wait(states: dict[str, Any], index: int) -> str:
    """The state after Wait<n>: the alarm check when there are gating alarms, else the traffic read or the gate."""
    for name in (f"Check{index}", f"Traffic{index}", f"Gate{index}"):
        if name in states:
            return name
    raise AssertionError(f"no state follows Wait{index}")


def test_state_machine_may_update_only_its_alias_and_read_only_its_alarms(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    name = synthesized.hand["steps"]
    model = synthesized.models[name]
    arns = Capture()
    templates[name].has_resource_properties("AWS::IAM::Policy", {
        "PolicyName": Match.string_like_regexp("StateMachineRole"),
        "PolicyDocument": {"Statement": Match.array_with([
            {"Action": "lambda:UpdateAlias", "Effect": "Allow", "Resource": [
                {"Fn::GetAtt": [Match.string_like_regexp("AgentFunction"), "Arn"]},
                {"Fn::Join": ["", [{"Fn::GetAtt": [Match.string_like_regexp("AgentFunction"), "Arn"]}, ":live"]]}]},
            {"Action": "cloudwatch:DescribeAlarms", "Effect": "Allow", "Resource": arns},
            {"Action": "cloudwatch:GetMetricStatistics", "Effect": "Allow", "Resource": "*"},
            {"Action": "sns:Publish", "Effect": "Allow", "Resource": Match.any_value()},
            {"Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Effect": "Allow",
             "Resource": {"Fn::GetAtt": [Match.string_like_regexp("NotificationsKey"), "Arn"]}},
        ])},
    })
    assert len(arns.as_array()) == len(model.rollout.gating_alarms)
    templates[name].has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineName": "steps-agent-staging-rollout",
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
    })
    assert alarm_name(model, "error-rate").endswith("error-rate")


def test_rollout_outcomes_are_published_to_the_rollout_targets(synthesized: Synthesized) -> None:
    states = definition(synthesized, synthesized.hand["steps"])["States"]
    assert states["Rollback"]["Next"] == "NotifyRollback0"
    assert states["NotifyRollback0"]["Resource"].endswith(":states:::sns:publish")
    assert states["NotifyRollback0"]["Next"] == "RolledBack"
    assert states["Passed2"]["Next"] == "NotifyDone0"
    assert states["NotifyDone0"]["Next"] == "Done"


def test_an_execution_that_times_out_or_is_stopped_by_hand_is_told_to_the_rollout_targets(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    templates[synthesized.hand["steps"]].has_resource_properties("AWS::Events::Rule", {
        "EventPattern": {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
                         "detail": {"status": ["TIMED_OUT", "ABORTED"], "stateMachineArn": Match.any_value()}},
        "Targets": [Match.object_like({"Arn": {"Ref": Match.string_like_regexp("NotificationsoncallTopic")},
                                       "InputTransformer": Match.any_value()})],
    })
