"""Notifications: SNS publishes in moto, recorded deliveries, HTTP calls to loopback receivers.

Each alarm transition (to ALARM: "trigger"; back to OK: "resolve") and each rollout outcome is
published to the target's SNS topic in moto and recorded in `alerts.jsonl` under the emulator's
state directory (what `deployer alerts --env local` lists). A target with an http(s) endpoint on
loopback (127.0.0.1, localhost, ::1) also gets the real HTTP POST, in the shape its kind expects:

- `pagerduty`: PagerDuty Events API v2 (`routing_key`, `event_action`, `dedup_key`, `payload`
  with `summary`, `source`, `severity`, `timestamp`, `component`, `group`, `class`, `custom_details`).
- `slack`: an incoming-webhook message (`text` plus `blocks`).
- `webhook`: the notification record itself as JSON.
- `email`: SNS only (an email subscription on the topic).

Non-loopback endpoints and secret references (`ssm:...`) are recorded as not delivered, with why.
Deliveries run on a background thread so that alarms and rollouts never wait on a receiver.
When `alerts.jsonl` cannot be written (a full disk), the records stay in memory (`records` lists
them), `report` is told, and the file is written again on `retry` or with the next notification.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from deployer.compiled import DeploymentModel, NotificationModel
from deployer.local.behaviour.clock import iso

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
Publish = Callable[[str, str, str], "str | None"]


def pagerduty_body(target: NotificationModel, note: dict[str, Any]) -> dict[str, Any]:
    severity = note.get("severity") or "critical"
    return {
        "routing_key": target.routing_key or "",
        "event_action": "resolve" if note.get("state") == "OK" else "trigger",
        "dedup_key": f"{note['agent']}/{note['environment']}/{note.get('alarm') or note['event']}",
        "client": "deployer local emulator",
        "payload": {
            "summary": note["subject"],
            "source": f"deployer-emulator/{note['agent']}/{note['environment']}",
            "severity": severity if severity in ("critical", "error", "warning", "info") else "critical",
            "timestamp": note["at"],
            "component": note["agent"],
            "group": note["environment"],
            "class": note.get("kind") or note["event"],
            "custom_details": {k: note.get(k) for k in ("alarm", "state", "previous_state", "reason", "version",
                                                         "stable_version", "message")
                               if note.get(k) is not None},
        },
    }


def slack_body(note: dict[str, Any]) -> dict[str, Any]:
    icon = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:"}.get(str(note.get("state")), ":information_source:")
    text = f"{icon} {note['subject']}"
    detail = note.get("reason") or note.get("message") or ""
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{note['subject']}*\n{detail}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text":
                f"{note['agent']} · {note['environment']} · version {note.get('version') or '-'} · {note['at']}"}]},
        ],
    }


class Notifier:
    """Publishes, records and delivers notifications for one deployment model."""

    def __init__(self, model: DeploymentModel, *, publish: Publish, log_path: Path, now: Callable[[], float],
                 http_timeout_s: float = 3.0, report: Callable[[OSError | None], None] | None = None) -> None:
        self.model = model
        self._report = report  # told each time alerts.jsonl could not be written (the error), or could again (None)
        self.unsaved = False
        self._publish = publish
        self._log_path = log_path
        self._now = now
        self._timeout = http_timeout_s
        self._records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[NotificationModel, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver_loop, name="notifier", daemon=True)
        self._thread.start()
        if log_path.exists():
            for line in log_path.read_text(errors="replace").splitlines()[-1000:]:
                try:
                    self._records.append(json.loads(line))
                except ValueError:
                    continue

    def notify(self, targets: tuple[str, ...], *, event: str, subject: str, **fields: Any) -> list[dict[str, Any]]:
        """Record and send one notification to each named target; returns the records."""
        out = []
        at = self._now()
        for name in targets:
            target = self.model.notification(name)
            note: dict[str, Any] = {
                "id": str(uuid.uuid4()), "at": iso(at), "at_epoch": at, "event": event, "subject": subject,
                "agent": self.model.agent, "environment": self.model.environment, "target": name,
                "kind": None, **fields,
            }
            if target is None:
                note["delivery"] = {"delivered": False, "error": f"no notification target named {name!r}"}
                self._append(note)
                continue
            note["target_kind"] = target.kind
            note["delivery"] = {"delivered": False, "status": "pending"}
            self._append(note)
            self._queue.put((target, note))
            out.append(note)
        return out

    def records(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._records[-limit:]][::-1]

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until queued deliveries are done (bounded)."""
        done = threading.Event()
        self._queue.put((None, {"_flush": done}))  # type: ignore[arg-type]
        done.wait(timeout_s)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _append(self, note: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(note)
            del self._records[:-1000]
            self._rewrite_locked()

    def _rewrite_locked(self) -> None:
        tmp = self._log_path.with_suffix(".tmp")
        try:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text("".join(json.dumps(r, default=str) + "\n" for r in self._records))
            tmp.replace(self._log_path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self.unsaved = True
            if self._report is not None:
                self._report(exc)
            return
        if self.unsaved and self._report is not None:
            self._report(None)
        self.unsaved = False

    def retry(self) -> bool:
        """Write alerts.jsonl again if a write failed; True when it is up to date."""
        with self._lock:
            if self.unsaved:
                self._rewrite_locked()
            return not self.unsaved

    def _deliver_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            target, note = item
            if target is None:
                note["_flush"].set()
                continue
            try:
                message_id = self._publish(target.name, note["subject"], json.dumps(_without(note, "delivery")))
            except Exception as exc:  # moto unreachable during shutdown: still record it
                message_id, note["sns_error"] = None, str(exc)
            with self._lock:
                note["sns_message_id"] = message_id
            try:
                result = self._deliver(target, note)
            except Exception as exc:  # never let one delivery end the thread
                result = {"delivered": False, "error": f"{type(exc).__name__}: {exc}"}
            with self._lock:
                note["delivery"] = result
                self._rewrite_locked()

    def _deliver(self, target: NotificationModel, note: dict[str, Any]) -> dict[str, Any]:
        if target.kind == "email":
            return {"delivered": bool(note.get("sns_message_id")), "via": "sns", "addresses": list(target.addresses)}
        url = target.endpoint
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return {"delivered": False, "url": url, "error": "endpoint is a secret reference or not a URL; "
                    "the emulator only calls http(s) endpoints on 127.0.0.1"}
        if (parts.hostname or "") not in LOOPBACK_HOSTS:
            return {"delivered": False, "url": url, "error": "not a loopback endpoint; the emulator never calls "
                    "outside 127.0.0.1 (recorded only)"}
        payload: dict[str, Any]
        if target.kind == "pagerduty":
            payload = pagerduty_body(target, note)
        elif target.kind == "slack":
            payload = slack_body(note)
        else:
            payload = _without(note, "delivery")
        request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return {"delivered": 200 <= response.status < 300, "url": url, "status": response.status}
        except urllib.error.HTTPError as exc:
            return {"delivered": False, "url": url, "status": exc.code, "error": str(exc)}
        except (urllib.error.URLError, OSError) as exc:
            return {"delivered": False, "url": url, "error": f"{type(exc).__name__}: {exc}"}


def _without(note: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in note.items() if k not in keys}
