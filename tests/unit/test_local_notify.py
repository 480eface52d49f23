"""Notification payload shapes and the model's JSON round trip (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

from deployer.compiled import NotificationModel
from deployer.compiler import compile_environment
from deployer.local.behaviour.clock import iso
from deployer.local.behaviour.notify import pagerduty_body, slack_body
from deployer.local.state.serde import model_from_dict
from deployer.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
NOTE = {
    "subject": "ALARM: error_rate_spike on support-router (local)", "agent": "support-router",
    "environment": "local", "event": "alarm", "alarm": "error_rate_spike", "state": "ALARM",
    "previous_state": "OK", "reason": "Threshold Crossed: ...", "version": "2", "severity": "critical",
    "kind": "error_rate", "at": iso(1_800_000_000.0),
}
TARGET = NotificationModel(name="page_oncall", kind="pagerduty", endpoint="http://127.0.0.1:9/v2/enqueue",
                           routing_key="R0UTINGKEY", addresses=(), topic_name="t")


def test_pagerduty_events_v2_trigger_and_resolve():
    body = pagerduty_body(TARGET, NOTE)
    assert set(body) == {"routing_key", "event_action", "dedup_key", "client", "payload"}
    assert body["routing_key"] == "R0UTINGKEY" and body["event_action"] == "trigger"
    assert body["dedup_key"] == "support-router/local/error_rate_spike"
    payload = body["payload"]
    assert payload["summary"] == NOTE["subject"] and payload["severity"] == "critical"
    assert payload["source"] == "deployer-emulator/support-router/local"
    assert payload["timestamp"] == "2027-01-15T08:00:00.000Z"
    assert (payload["component"], payload["group"], payload["class"]) == ("support-router", "local", "error_rate")
    assert payload["custom_details"]["version"] == "2" and payload["custom_details"]["previous_state"] == "OK"
    resolved = pagerduty_body(TARGET, {**NOTE, "state": "OK"})
    assert resolved["event_action"] == "resolve" and resolved["dedup_key"] == body["dedup_key"]


def test_pagerduty_severity_is_one_pagerduty_accepts():
    assert pagerduty_body(TARGET, {**NOTE, "severity": "page-me"})["payload"]["severity"] == "critical"
    assert pagerduty_body(TARGET, {**NOTE, "severity": "warning"})["payload"]["severity"] == "warning"


def test_slack_webhook_message():
    body = slack_body(NOTE)
    assert body["text"].startswith(":rotating_light: ALARM: error_rate_spike")
    assert body["blocks"][0]["type"] == "section" and "Threshold Crossed" in body["blocks"][0]["text"]["text"]
    assert "version 2" in body["blocks"][1]["elements"][0]["text"]


def test_deployment_model_round_trips_through_json():
    model = compile_environment(load_spec(ROOT / "agent.yaml"), "local")
    again = model_from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model
