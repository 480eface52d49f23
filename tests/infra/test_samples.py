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


def test_reply_drafter_canary_needs_evidence_so_a_state_machine_runs_it(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    stack = reply_drafter(synthesized, "production")
    model = synthesized.models[stack]
    assert (model.rollout.engine, model.rollout.codedeploy) == ("stepfunctions", None)
    assert [(s.percent, s.bake_s, s.min_requests) for s in model.rollout.steps] == [(10, 6 * 3600, 100), (100, 0, 0)]
    assert not [w for w in model.warnings if "evidence" in w]
    template = templates[stack]
    template.resource_count_is("AWS::CodeDeploy::DeploymentGroup", 0)
    template.has_resource_properties("AWS::StepFunctions::StateMachine", {"StateMachineName": f"{stack}-rollout"})
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
