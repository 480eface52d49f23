"""The notification forwarder's handler (pure: payload shapes, secret resolution)."""

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


def sns_event(state: str = "ALARM") -> dict[str, Any]:
    alarm = {"AlarmName": "a-staging-error-rate", "NewStateValue": state, "NewStateReason": "threshold crossed",
             "AlarmArn": "arn:aws:cloudwatch:eu-west-1:1:alarm:a-staging-error-rate"}
    return {"Records": [{"Sns": {"Message": json.dumps(alarm), "Subject": "ALARM"}}]}


def test_pagerduty_payload_triggers_on_alarm_and_resolves_on_ok() -> None:
    alarm = index.alarm_from(sns_event()["Records"][0])
    body = index.pagerduty_payload(alarm, "key")
    assert body["event_action"] == "trigger" and body["routing_key"] == "key"
    assert body["dedup_key"] == "a-staging-error-rate" and body["payload"]["severity"] == "critical"
    ok = index.pagerduty_payload(index.alarm_from(sns_event("OK")["Records"][0]), "key")
    assert ok["event_action"] == "resolve"


def test_references_are_resolved_once_and_cached() -> None:
    index._cache.clear()
    ssm = FakeSsm()
    assert index.resolve("ssm:/team/key", clients={"ssm": ssm}) == "value-of-/team/key"
    assert index.resolve("ssm:/team/key", clients={"ssm": ssm}) == "value-of-/team/key"
    assert ssm.calls == 1


def test_slack_request_uses_the_resolved_url(monkeypatch: pytest.MonkeyPatch) -> None:
    index._cache.clear()
    index._cache["secretsmanager:team/slack"] = "https://hooks.example/T"
    url, body = index.build_request(index.alarm_from(sns_event()["Records"][0]),
                                    {"FORWARD_KIND": "slack", "FORWARD_URL_REF": "secretsmanager:team/slack"})
    assert url == "https://hooks.example/T"
    assert "a-staging-error-rate" in body["text"] and "ALARM" in body["text"]


def test_plain_http_is_refused() -> None:
    with pytest.raises(ValueError, match="non-HTTPS"):
        index.post("http://example.com", {})
