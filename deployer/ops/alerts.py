"""`deployer alerts`: recent notifications of an environment, newest first.

In the emulator: every delivery it made (alarm triggers and resolves, rollout outcomes), from its
control API. In AWS: the alarms' recent state changes (CloudWatch alarm history) and the SNS
topics each one notified.
"""

from __future__ import annotations

import json
from typing import Any

from deployer.errors import DeployerError
from deployer.ops.target import OpsTarget


def alerts(target: OpsTarget, *, limit: int = 50) -> list[dict[str, Any]]:
    """Recent notifications (the emulator's deliveries, or AWS's alarm history), newest first."""
    if target.local:
        return target.require_emulator().alerts(limit)
    return alarm_history(target, limit=limit)


def alarm_history(target: OpsTarget, *, limit: int = 50) -> list[dict[str, Any]]:
    """Recent alarm state changes of the environment's alarms, newest first, with the topics notified."""
    cloudwatch = target.clients.alarms
    names = [target.alarm_name(a.name) for a in target.model.alarms]
    actions = {a["AlarmName"]: a for a in cloudwatch.describe(names)} if names else {}
    out: list[dict[str, Any]] = []
    for name in names:
        alarm = actions.get(name)
        if alarm is None:
            continue
        try:
            history = cloudwatch.history(name, max_records=min(limit, 100))
        except DeployerError:  # no history API (moto) or no permission: the current state is the latest change
            history = [{"Timestamp": alarm.get("StateUpdatedTimestamp", ""), "HistorySummary": "current state",
                        "HistoryData": json.dumps({"newState": {"stateValue": alarm.get("StateValue"),
                                                                "stateReason": alarm.get("StateReason")}})}]
        for item in history:
            data = _json(item.get("HistoryData"))
            new_state = (data.get("newState") or {}).get("stateValue")
            old_state = (data.get("oldState") or {}).get("stateValue")
            topics = alarm.get("AlarmActions", []) if new_state == "ALARM" else alarm.get("OKActions", [])
            out.append({"at": str(item.get("Timestamp", "")), "alarm": name, "state": new_state,
                        "previous_state": old_state, "subject": item.get("HistorySummary", ""),
                        "reason": (data.get("newState") or {}).get("stateReason"),
                        "targets": [str(t).rsplit(":", 1)[-1] for t in topics if new_state in ("ALARM", "OK")]})
    out.sort(key=lambda r: r["at"], reverse=True)
    return out[:limit]


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
