"""Forwards SNS alarm notifications to Slack, PagerDuty (Events v2) or a generic webhook.

Ships as its own tiny asset (this directory only). The target URL and the PagerDuty routing key
are read at run time from SSM Parameter Store (`ssm:/path`) or Secrets Manager
(`secretsmanager:name`) and cached for the life of the execution environment; the template only
holds the references. Standard library plus boto3 (present in the Lambda runtime), loaded lazily.

Environment: FORWARD_KIND (slack | pagerduty | webhook), FORWARD_TARGET (name),
FORWARD_URL or FORWARD_URL_REF, FORWARD_ROUTING_KEY_REF (pagerduty).
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
TIMEOUT_S = 5.0
_cache: dict[str, str] = {}


def resolve(ref: str, *, clients: dict[str, Any] | None = None) -> str:
    """The value behind `ssm:/path` or `secretsmanager:name` (a literal is returned as is)."""
    if ref in _cache:
        return _cache[ref]
    kind, _, name = ref.partition(":")
    if kind == "ssm":
        client = (clients or {}).get("ssm") or _client("ssm")
        value = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    elif kind == "secretsmanager":
        client = (clients or {}).get("secretsmanager") or _client("secretsmanager")
        value = client.get_secret_value(SecretId=name)["SecretString"]
    else:
        return ref
    _cache[ref] = value
    return str(value)


def _client(service: str) -> Any:
    import boto3  # lazily: only on the first resolution of a cold start

    return boto3.client(service)  # type: ignore[call-overload]


def alarm_from(record: dict[str, Any]) -> dict[str, Any]:
    """The CloudWatch alarm (or any JSON message) carried by one SNS record."""
    sns = record.get("Sns", {})
    try:
        message = json.loads(sns.get("Message", "{}"))
    except json.JSONDecodeError:
        message = {"AlarmDescription": sns.get("Message", "")}
    if not isinstance(message, dict):
        message = {"AlarmDescription": str(message)}
    message.setdefault("AlarmName", sns.get("Subject") or "deployer notification")
    return message


def slack_payload(alarm: dict[str, Any]) -> dict[str, Any]:
    state = alarm.get("NewStateValue", "INFO")
    icon = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:"}.get(state, ":information_source:")
    reason = alarm.get("NewStateReason") or alarm.get("AlarmDescription", "")
    return {"text": f"{icon} *{alarm['AlarmName']}* is {state}\n{reason}".strip()}


def pagerduty_payload(alarm: dict[str, Any], routing_key: str) -> dict[str, Any]:
    """PagerDuty Events API v2: trigger on ALARM, resolve on OK, deduplicated per alarm."""
    state = alarm.get("NewStateValue", "ALARM")
    return {
        "routing_key": routing_key,
        "event_action": "resolve" if state == "OK" else "trigger",
        "dedup_key": alarm["AlarmName"],
        "payload": {
            "summary": f"{alarm['AlarmName']} is {state}: {alarm.get('NewStateReason', '')}"[:1024],
            "source": alarm.get("AlarmArn") or alarm["AlarmName"],
            "severity": "critical" if state == "ALARM" else "info",
            "custom_details": {key: alarm.get(key) for key in ("AlarmDescription", "Region", "Trigger")},
        },
    }


def build_request(alarm: dict[str, Any], env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    kind = env.get("FORWARD_KIND", "webhook")
    url = env.get("FORWARD_URL") or resolve(env.get("FORWARD_URL_REF", ""))
    if kind == "pagerduty":
        return url or PAGERDUTY_EVENTS_URL, pagerduty_payload(alarm, resolve(env["FORWARD_ROUTING_KEY_REF"]))
    if kind == "slack":
        return url, slack_payload(alarm)
    return url, {"target": env.get("FORWARD_TARGET", ""), "alarm": alarm}


def post(url: str, body: dict[str, Any]) -> int:
    if not url.startswith("https://"):
        raise ValueError("refusing to forward a notification over a non-HTTPS URL")
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return int(response.status)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    env = dict(os.environ)
    sent = 0
    for record in event.get("Records", []):
        url, body = build_request(alarm_from(record), env)
        post(url, body)
        sent += 1
    return {"forwarded": sent}
