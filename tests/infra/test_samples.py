"""The stacks of the repository's specs: agent.yaml (support-router) and samples/*/agent.yaml."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized

SPEC_STACKS = ["support-router-staging", "support-router-production"]


@pytest.mark.parametrize("stack", SPEC_STACKS)
def test_support_router_rolls_out_5_50_100_through_step_functions(
        synthesized: Synthesized, templates: dict[str, Any], stack: str) -> None:
    template = templates[stack]
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    template.resource_count_is("AWS::CodeDeploy::DeploymentGroup", 0)
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {
        "StateMachineName": f"{stack}-rollout", "DefinitionString": Match.any_value()})
    weights = [s.percent for s in synthesized.models[stack].rollout.steps]
    assert weights == [5, 50, 100]


def test_support_router_production_has_concurrency_settings(templates: dict[str, Any]) -> None:
    template = templates["support-router-production"]
    template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": "support-router-production", "MemorySize": 1024, "ReservedConcurrentExecutions": 100})
    template.has_resource_properties("AWS::Lambda::Alias", {
        "ProvisionedConcurrencyConfig": {"ProvisionedConcurrentExecutions": 2}})


def test_support_router_pages_through_pagerduty_and_chats_through_slack(templates: dict[str, Any]) -> None:
    template = templates["support-router-staging"]
    template.has_resource_properties("AWS::Lambda::Function", {"Environment": {"Variables": {
        "FORWARD_KIND": "pagerduty", "FORWARD_TARGET": "page_oncall",
        "FORWARD_ROUTING_KEY_REF": "ssm:/support-router/pagerduty-routing-key",
        "FORWARD_URL": "https://events.pagerduty.com/v2/enqueue"}}})
    template.has_resource_properties("AWS::Lambda::Function", {"Environment": {"Variables": {
        "FORWARD_KIND": "slack", "FORWARD_TARGET": "slack_notification",
        "FORWARD_URL_REF": "secretsmanager:support-router/slack-webhook"}}})


def reply_drafter(synthesized: Synthesized, environment: str) -> str:
    name = f"reply-drafter-{environment}"
    if name not in synthesized.models:
        pytest.skip("samples/reply_drafter/agent.yaml is not there")
    return name


def test_reply_drafter_canary_is_a_codedeploy_config_from_its_policy(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    stack = reply_drafter(synthesized, "production")
    model = synthesized.models[stack]
    config = model.rollout.codedeploy
    assert config is not None and config.kind == "canary"
    template = templates[stack]
    template.has_resource_properties("AWS::CodeDeploy::DeploymentConfig", {
        "DeploymentConfigName": config.name,
        "TrafficRoutingConfig": {"Type": "TimeBasedCanary", "TimeBasedCanary": {
            "CanaryPercentage": round(config.percentage), "CanaryInterval": config.interval_minutes}}})
    template.has_resource_properties("AWS::CodeDeploy::DeploymentGroup", {
        "AlarmConfiguration": {"Enabled": True, "Alarms": Match.any_value()}})
    template.has_resource("AWS::Lambda::Alias", {"UpdatePolicy": {"CodeDeployLambdaAliasUpdate": Match.any_value()}})
    template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": stack, "Architectures": ["arm64"], "Timeout": 60, "MemorySize": 256})


def test_reply_drafter_production_may_call_its_bedrock_model_only(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    stack = reply_drafter(synthesized, "production")
    model_id = synthesized.models[stack].model.model_id
    templates[stack].has_resource_properties("AWS::IAM::Policy", {
        "PolicyName": Match.string_like_regexp("AgentRole"),
        "PolicyDocument": {"Statement": Match.array_with([{
            "Action": ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], "Effect": "Allow",
            "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                           f":bedrock:eu-west-1::foundation-model/{model_id}"]]}}])}})


def test_reply_drafter_staging_may_read_its_api_key_reference_only(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    stack = reply_drafter(synthesized, "staging")
    templates[stack].has_resource_properties("AWS::IAM::Policy", {
        "PolicyName": Match.string_like_regexp("AgentRole"),
        "PolicyDocument": {"Statement": Match.array_with([{
            "Action": "ssm:GetParameter", "Effect": "Allow",
            "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                           ":ssm:eu-west-1:111111111111:parameter/reply-drafter/openai-api-key"]]}}])}})
