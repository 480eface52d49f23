"""Forwards SNS notifications to Slack, PagerDuty (Events API v2) or a generic webhook.

Ships as its own tiny asset (this directory only). Three kinds of message reach the topics:
CloudWatch alarm state changes, CodeDeploy state changes (EventBridge) and the Step Functions
rollout's outcome (plain text). Each is normalized to a `Notice` with a state: ALARM (page),
OK (resolve the page), INFO (chat only; PagerDuty is not paged for it).

The target URL and the PagerDuty routing key are read at run time from SSM Parameter Store
(`ssm:/path`) or Secrets Manager (`secretsmanager:name`) and cached for the life of the execution
environment; the template only holds the references. Standard library plus boto3 (present in
the Lambda runtime, imported on first use).

Environment: FORWARD_KIND (slack | pagerduty | webhook), FORWARD_TARGET (name),
FORWARD_URL or FORWARD_URL_REF, FORWARD_ROUTING_KEY_REF (pagerduty), FORWARD_SECRET_REF (webhook bearer token).
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
TIMEOUT_S = 5.0
_cache: dict[str, str] = {}


@dataclass(frozen=True)
class Notice:
    title: str
    state: str  # ALARM | OK | INFO
    detail: str
    source: str
    key: str  # deduplication key: one incident per alarm / deployment group / rollout


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
    _cache[ref] = str(value)
    return _cache[ref]


def _client(service: str) -> Any:
    import boto3  # lazily: only on the first resolution of a cold start

    return boto3.client(service)  # type: ignore[call-overload]


def notice_from(record: dict[str, Any]) -> Notice:
    """Normalize one SNS record (alarm, CodeDeploy event or rollout text) to a `Notice`."""
    sns = record.get("Sns", {})
    subject = str(sns.get("Subject") or "")
    raw = str(sns.get("Message", ""))
    try:
        message = json.loads(raw)
    except json.JSONDecodeError:
        message = None
    if isinstance(message, dict) and "AlarmName" in message:
        state = str(message.get("NewStateValue", "ALARM"))
        return Notice(f"{message['AlarmName']} is {state}", state if state in ("ALARM", "OK") else "INFO",
                      str(message.get("NewStateReason") or message.get("AlarmDescription") or ""),
                      str(message.get("AlarmArn") or message["AlarmName"]), str(message["AlarmName"]))
    if isinstance(message, dict) and "detail-type" in message:
        detail = message.get("detail") or {}
        group = f"{detail.get('application', '?')}/{detail.get('deploymentGroup', '?')}"
        state = str(detail.get("state", "INFO"))
        return Notice(f"CodeDeploy {group}: deployment {state}", "ALARM" if state in ("FAILURE", "STOP") else "INFO",
                      f"deployment {detail.get('deploymentId', '?')} in {message.get('region', '?')}",
                      group, f"codedeploy:{group}")
    rolled_back = "rolled back" in subject or "rolled back" in raw
    return Notice(subject or "deployer notification", "ALARM" if rolled_back else "INFO", raw,
                  subject.split(":")[0] or "deployer", f"rollout:{subject.split(':')[0]}")


def slack_payload(notice: Notice) -> dict[str, Any]:
    icon = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:"}.get(notice.state, ":information_source:")
    return {"text": f"{icon} *{notice.title}*\n{notice.detail}".strip()}


def pagerduty_payload(notice: Notice, routing_key: str) -> dict[str, Any] | None:
    """Events API v2: trigger on ALARM, resolve on OK, nothing for INFO."""
    if notice.state == "INFO":
        return None
    return {
        "routing_key": routing_key,
        "event_action": "resolve" if notice.state == "OK" else "trigger",
        "dedup_key": notice.key,
        "payload": {"summary": f"{notice.title}: {notice.detail}"[:1024], "source": notice.source,
                    "severity": "critical"},
    }


def build_request(notice: Notice, env: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
    """(url, body) to post for `notice`, or None when this target ignores it."""
    kind = env.get("FORWARD_KIND", "webhook")
    url = env.get("FORWARD_URL") or resolve(env.get("FORWARD_URL_REF", ""))
    if kind == "pagerduty":
        body = pagerduty_payload(notice, resolve(env["FORWARD_ROUTING_KEY_REF"]))
        return None if body is None else (url or PAGERDUTY_EVENTS_URL, body)
    if kind == "slack":
        return url, slack_payload(notice)
    return url, {"target": env.get("FORWARD_TARGET", ""), "notice": asdict(notice)}


def auth_headers(env: dict[str, str]) -> dict[str, str]:
    """A webhook's shared secret, sent as a bearer token (read from its reference at run time)."""
    ref = env.get("FORWARD_SECRET_REF")
    return {"Authorization": f"Bearer {resolve(ref)}"} if ref else {}


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    if not url.startswith("https://"):
        raise ValueError("refusing to forward a notification over a non-HTTPS URL")
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})},
        method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return int(response.status)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    env = dict(os.environ)
    sent = skipped = 0
    for record in event.get("Records", []):
        request = build_request(notice_from(record), env)
        if request is None:
            skipped += 1
            continue
        post(*request, headers=auth_headers(env))
        sent += 1
    return {"forwarded": sent, "skipped": skipped}
