"""SNS topics, subscriptions per kind, the forwarders, and no secret value in any template."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match

from deployer.compiled import NotificationModel
from infra.notifications import forwarder_environment
from tests.infra.conftest import Synthesized


def test_one_encrypted_tls_only_topic_per_target(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    for name, model in synthesized.models.items():
        template = templates[name]
        template.resource_count_is("AWS::SNS::Topic", len(model.notifications))
        template.resource_count_is("AWS::KMS::Key", 1 if model.notifications else 0)
        for target in model.notifications:
            template.has_resource_properties("AWS::SNS::Topic", {
                "TopicName": target.topic_name, "KmsMasterKeyId": {"Fn::GetAtt": [Match.any_value(), "Arn"]}})
        template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": Match.array_with([
            {"Action": "sns:Publish", "Effect": "Deny", "Principal": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Resource": Match.any_value(),
             "Sid": Match.any_value()},
            Match.object_like({"Sid": "AllowAlarmsOfThisAccount", "Effect": "Allow",
                               "Principal": {"Service": "cloudwatch.amazonaws.com"}}),
        ])}})


def test_alarm_publishers_may_use_the_topic_key(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    templates[synthesized.hand["steps"]].has_resource_properties("AWS::KMS::Key", {
        "EnableKeyRotation": True,
        "KeyPolicy": {"Statement": Match.array_with([Match.object_like({
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Principal": {"Service": "cloudwatch.amazonaws.com"}})])},
    })


def test_email_targets_subscribe_every_address(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    template = templates[synthesized.hand["steps"]]
    for address in ("team@example.com", "lead@example.com"):
        template.has_resource_properties("AWS::SNS::Subscription", {
            "Protocol": "email", "Endpoint": address,
            "TopicArn": {"Ref": Match.string_like_regexp("NotificationsmailTopic")}})


def test_paging_and_chat_targets_go_through_a_forwarder_reading_secret_references(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    template = templates[synthesized.hand["steps"]]
    template.has_resource_properties("AWS::SNS::Subscription", {
        "Protocol": "lambda", "TopicArn": {"Ref": Match.string_like_regexp("NotificationsoncallTopic")}})
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "index.handler", "Runtime": "python3.14",
        "Environment": {"Variables": {"FORWARD_KIND": "pagerduty", "FORWARD_TARGET": "oncall",
                                      "FORWARD_ROUTING_KEY_REF": "ssm:/demo/pagerduty-routing-key",
                                      "FORWARD_URL": "https://events.pagerduty.com/v2/enqueue"}}})
    template.has_resource_properties("AWS::Lambda::Function", {
        "Environment": {"Variables": {"FORWARD_KIND": "slack", "FORWARD_TARGET": "chat",
                                      "FORWARD_URL_REF": "secretsmanager:demo/slack-webhook"}}})
    template.has_resource_properties("AWS::IAM::Policy", {"PolicyDocument": {"Statement": Match.array_with([{
        "Action": "ssm:GetParameter", "Effect": "Allow",
        "Resource": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                       ":ssm:eu-west-1:111111111111:parameter/demo/pagerduty-routing-key"]]}}])}})


def test_the_forwarder_reads_the_compiled_target_and_passes_references_through() -> None:
    target = NotificationModel(name="pd", kind="pagerduty", endpoint="https://events.pagerduty.com/v2/enqueue",
                               routing_key="ssm:/pd/key", addresses=(), topic_name="t")
    assert forwarder_environment(target) == {"FORWARD_KIND": "pagerduty", "FORWARD_TARGET": "pd",
                                             "FORWARD_ROUTING_KEY_REF": "ssm:/pd/key",
                                             "FORWARD_URL": "https://events.pagerduty.com/v2/enqueue"}


def test_infra_judges_no_spec_the_compiler_does() -> None:
    """Every rule about agent.yaml is checked by the compiler, located (tests/fixtures/invalid/81-85)."""
    for module in (ROOT / "infra").rglob("*.py"):
        assert "DeployerError" not in module.read_text(encoding="utf-8"), module


ROOT = Path(__file__).resolve().parents[2]
SECRET_SHAPES = [
    re.compile(r"hooks\.slack\.com/services/"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"(?i)bearer [a-z0-9._-]{10,}"),
    re.compile(r"events\.pagerduty\.com/integration/"),
]


def test_no_template_holds_a_secret_value_only_references(synthesized: Synthesized) -> None:
    for name, model in synthesized.models.items():
        text = json.dumps(synthesized.template_json(name))
        for shape in SECRET_SHAPES:
            assert not shape.search(text), f"{name}: {shape.pattern}"
        refs = [n.routing_key for n in model.notifications if n.routing_key] + \
               [n.endpoint for n in model.notifications if n.kind in ("slack", "webhook")]
        for ref in refs:
            assert ref.startswith(("ssm:", "secretsmanager:"))
        if model.model.api_key:
            assert model.model.api_key.startswith(("ssm:", "secretsmanager:", "env:")) or model.model.api_key not in text


def test_a_plain_https_webhook_is_kept_and_its_shared_secret_stays_a_reference() -> None:
    target = NotificationModel(name="hook", kind="webhook", endpoint="https://ops.example.com/alerts",
                               routing_key="secretsmanager:team/hook-token", addresses=(), topic_name="t")
    env = forwarder_environment(target)
    assert env["FORWARD_URL"] == "https://ops.example.com/alerts"
    assert env["FORWARD_SECRET_REF"] == "secretsmanager:team/hook-token"
