"""The notification forwarder's handler (pure: message normalization, payloads, secret resolution)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.forwarder import index


class FakeSsm:
    def __init__(self) -> None:
        self.calls = 0

    def get_parameter(self, *, Name: str, WithDecryption: bool) -> dict[str, Any]:
        self.calls += 1
        assert WithDecryption
        return {"Parameter": {"Value": f"value-of-{Name}"}}


def record(message: Any, subject: str | None = None) -> dict[str, Any]:
    body = message if isinstance(message, str) else json.dumps(message)
    return {"Sns": {"Message": body, "Subject": subject}}


def alarm(state: str = "ALARM") -> dict[str, Any]:
    return record({"AlarmName": "a-staging-error-rate", "NewStateValue": state, "NewStateReason": "threshold crossed",
                   "AlarmArn": "arn:aws:cloudwatch:eu-west-1:1:alarm:a-staging-error-rate"}, "ALARM: a-staging")


def test_alarms_trigger_and_resolve_one_pagerduty_incident() -> None:
    body = index.pagerduty_payload(index.notice_from(alarm()), "key")
    assert body is not None and body["event_action"] == "trigger" and body["routing_key"] == "key"
    assert body["dedup_key"] == "a-staging-error-rate" and body["payload"]["severity"] == "critical"
    ok = index.pagerduty_payload(index.notice_from(alarm("OK")), "key")
    assert ok is not None and ok["event_action"] == "resolve" and ok["dedup_key"] == "a-staging-error-rate"


def test_codedeploy_failures_page_and_successes_only_chat() -> None:
    event: dict[str, Any] = {"detail-type": "CodeDeploy Deployment State-change Notification", "region": "eu-west-1",
             "detail": {"application": "a-prod", "deploymentGroup": "a-prod", "state": "FAILURE", "deploymentId": "d-1"}}
    failed = index.notice_from(record(event))
    assert failed.state == "ALARM" and failed.key == "codedeploy:a-prod/a-prod"
    event["detail"]["state"] = "SUCCESS"
    succeeded = index.notice_from(record(event))
    assert index.pagerduty_payload(succeeded, "key") is None
    assert "SUCCESS" in index.slack_payload(succeeded)["text"]


def test_rollout_outcomes_from_the_state_machine_page_only_on_rollback() -> None:
    back = index.notice_from(record("rollout of version 4 rolled back (stable: 3): gating alarm(s) in ALARM: x",
                                    "a-staging: rollout rolled back"))
    done = index.notice_from(record("rollout of version 4 completed (stable: 3)", "a-staging: rollout completed"))
    assert back.state == "ALARM" and done.state == "INFO"
    assert index.pagerduty_payload(done, "key") is None


def test_references_are_resolved_once_and_cached() -> None:
    index._cache.clear()
    ssm = FakeSsm()
    assert index.resolve("ssm:/team/key", clients={"ssm": ssm}) == "value-of-/team/key"
    assert index.resolve("ssm:/team/key", clients={"ssm": ssm}) == "value-of-/team/key"
    assert ssm.calls == 1


def test_slack_request_uses_the_resolved_url() -> None:
    index._cache.clear()
    index._cache["secretsmanager:team/slack"] = "https://hooks.example/T"
    request = index.build_request(index.notice_from(alarm()),
                                  {"FORWARD_KIND": "slack", "FORWARD_URL_REF": "secretsmanager:team/slack"})
    assert request is not None
    url, body = request
    assert url == "https://hooks.example/T"
    assert "a-staging-error-rate" in body["text"] and "ALARM" in body["text"]


def test_plain_http_is_refused() -> None:
    with pytest.raises(ValueError, match="non-HTTPS"):
        index.post("http://example.com", {})


def test_a_webhook_secret_is_sent_as_a_bearer_token() -> None:
    index._cache.clear()
    index._cache["secretsmanager:team/hook-token"] = "s3cr3t-value"
    assert index.auth_headers({"FORWARD_SECRET_REF": "secretsmanager:team/hook-token"}) == {
        "Authorization": "Bearer s3cr3t-value"}
    assert index.auth_headers({}) == {}
