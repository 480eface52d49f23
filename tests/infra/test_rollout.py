"""Rollout: CodeDeploy deployment configs and groups, the Step Functions state machine."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Capture, Match

from infra.naming import alarm_name
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


def test_state_machine_walks_the_steps_with_bakes_alarm_checks_and_traffic_checks(synthesized: Synthesized) -> None:
    for stack, model in synthesized.models.items():
        if model.rollout.engine != "stepfunctions":
            continue
        doc = definition(synthesized, stack)
        states = doc["States"]
        assert doc["QueryLanguage"] == "JSONata"
        steps = model.rollout.steps
        for index, step in enumerate(steps):
            shift = states[f"Shift{index}"]
            assert shift["Resource"].endswith(":states:::aws-sdk:lambda:updateAlias")
            assert shift["Assign"] == {"stepStart": "{% $millis() %}"}
            gate = states[f"Gate{index}"]
            assert gate["Choices"][0] == {"Condition": "{% $count($alarming) > 0 %}", "Next": "AlarmFired"}
            check = states[f"Check{index}"]
            assert check["Resource"].endswith(":states:::aws-sdk:cloudwatch:describeAlarms")
            assert check["Arguments"]["StateValue"] == "ALARM"
            assert len(check["Arguments"]["AlarmNames"]) == len(model.rollout.gating_alarms)
            assert states[f"Bake{index}"]["Type"] == "Wait" and states[f"Bake{index}"]["Seconds"] <= 60
            if step.percent < 100:
                assert shift["Arguments"]["FunctionVersion"] == "{% $stable %}"
                weight = shift["Arguments"]["RoutingConfig"]["AdditionalVersionWeights"]
                assert weight == f"{{% {{$candidate: {round(step.percent / 100, 4)}}} %}}"
                assert gate["Choices"][1]["Condition"] == f"{{% ($millis() - $stepStart) < {step.bake_s * 1000} %}}"
                if model.rollout.min_requests_per_step:
                    traffic = states[f"Traffic{index}"]
                    assert traffic["Resource"].endswith(":states:::aws-sdk:cloudwatch:getMetricStatistics")
                    assert traffic["Arguments"]["MetricName"] == "Invocations"
                    assert {"Name": "Version", "Value": "{% $candidate %}"} in traffic["Arguments"]["Dimensions"]
                    assert gate["Choices"][-1] == {
                        "Condition": f"{{% $served < {model.rollout.min_requests_per_step} %}}",
                        "Next": "NotEnoughTraffic"}
            else:
                assert index == len(steps) - 1
                assert shift["Arguments"]["FunctionVersion"] == "{% $candidate %}"
                assert shift["Arguments"]["RoutingConfig"]["AdditionalVersionWeights"] == "{% {} %}"
                assert f"Traffic{index}" not in states
        assert f"Shift{len(steps)}" not in states
        assert states["Rollback"]["Arguments"]["FunctionVersion"] == "{% $stable %}"
        assert states["Rollback"]["Arguments"]["RoutingConfig"]["AdditionalVersionWeights"] == "{% {} %}"
        assert states["AlarmFired"]["Next"] == states["NotEnoughTraffic"]["Next"] == "Rollback"
        assert states["RolledBack"] == {"Type": "Fail", "Error": "RolloutRolledBack", "Cause": "{% $reason %}"}


def test_the_promoted_version_is_watched_for_the_longest_gating_alarm_window(synthesized: Synthesized) -> None:
    name = synthesized.hand["steps"]
    model = synthesized.models[name]
    watch_s = max(a.window_s + a.period_s for a in model.alarms if a.name in model.rollout.gating_alarms)
    gate = definition(synthesized, name)["States"][f"Gate{len(model.rollout.steps) - 1}"]
    assert gate["Choices"][1]["Condition"] == f"{{% ($millis() - $stepStart) < {watch_s * 1000} %}}"


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
            {"Action": "cloudwatch:GetMetricStatistics", "Effect": "Allow", "Resource": "*"},
            {"Action": "cloudwatch:DescribeAlarms", "Effect": "Allow", "Resource": arns},
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
    assert states["Healthy2"]["Next"] == "NotifyDone0"
    assert states["NotifyDone0"]["Next"] == "Done"
