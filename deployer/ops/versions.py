"""Which versions are in play, and their figures: what `status` and `debug` both read.

The published versions come from Lambda (`ListVersionsByFunction`; the emulator publishes into its
moto the same way), the routing from the live alias. A version deployed after the live one and
no longer served was rolled back. Each version's figures come from its newest request records in
the window (`deployer.ops.requests.version_samples`), so the two commands count the same records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from deployer.aws.lambda_ import version_key
from deployer.errors import DeployerError
from deployer.ops.records import summarize
from deployer.ops.requests import version_samples
from deployer.ops.rollout import rollout_status
from deployer.ops.target import OpsTarget

#: How far back request records are read by default (`--window`).
DEFAULT_WINDOW_S = 86400.0
#: The newest requests of each version its figures are computed from (a bounded read at any volume).
SAMPLE_LIMIT = 500


@dataclass(frozen=True)
class VersionsInPlay:
    """The live alias's versions, every published one, and which two a comparison is about."""

    primary: str | None
    additional: dict[str, float]
    published: list[str]  # oldest first
    details: dict[str, dict[str, Any]]  # Lambda's description of each published version
    canary: str | None  # the version receiving the additional weight, during a rollout
    rolled_back: str | None  # deployed after the live version, serving nothing now
    current: str | None  # what changed: the canary, else the rolled-back version, else the live one
    before: str | None  # what it is compared with

    @property
    def role(self) -> str:
        return "canary" if self.canary else ("rolled back" if self.rolled_back else "live")

    @property
    def routing(self) -> list[dict[str, Any]]:
        if self.primary is None:
            return []
        rows = [{"version": self.primary, "weight": round(1.0 - sum(self.additional.values()), 6), "role": "stable"}]
        return rows + [{"version": v, "weight": w, "role": "canary"} for v, w in self.additional.items()]

    @property
    def counted(self) -> list[str]:
        """The versions whose requests `status` and `debug` count: those served, and the one compared."""
        return [v for v in dict.fromkeys([self.primary, *self.additional, self.current, self.before]) if v]


def previous_version(published: Iterable[str], current: str) -> str | None:
    """The newest published version older than `current`."""
    earlier = [v for v in published if version_key(v) < version_key(current)]
    return max(earlier, key=version_key) if earlier else None


def versions_in_play(target: OpsTarget) -> VersionsInPlay:
    primary, additional = target.routing()
    listed = target.functions.versions(target.function_name) if primary is not None else []
    details = {str(v.get("Version")): v for v in listed}
    published = list(details)
    canary = max(additional.items(), key=lambda kv: kv[1])[0] if additional else None
    newer = [v for v in published if primary is not None and version_key(v) > version_key(primary)]
    rolled_back = None if canary else (max(newer, key=version_key) if newer else None)
    current = canary or rolled_back or primary
    before = primary if canary or rolled_back else (previous_version(published, current) if current else None)
    return VersionsInPlay(primary, additional, published, details, canary, rolled_back, current, before)


def version_figures(target: OpsTarget, versions: Iterable[str], *, window_s: float = DEFAULT_WINDOW_S,
                    limit: int = SAMPLE_LIMIT) -> dict[str, dict[str, Any]]:
    """Requests, errors, error rate, p50/p99, cost per request and cold starts of each version."""
    samples = version_samples(target, versions, window_s=window_s, limit=limit)
    return {v: {**summarize(rows), "sampled": more} for v, (rows, more) in samples.items()}


def alarm_states(target: OpsTarget) -> list[dict[str, Any]]:
    """Every spec alarm with its CloudWatch state (MISSING when CloudWatch has no such alarm)."""
    names = {target.alarm_name(a.name): a for a in target.model.alarms}
    found = {a["AlarmName"]: a for a in target.clients.alarms.describe(list(names))} if names else {}
    out = []
    for cw_name, alarm in names.items():
        live = found.get(cw_name)
        out.append({"name": alarm.name, "alarm_name": cw_name, "state": live.get("StateValue") if live else "MISSING",
                    "reason": (live.get("StateReason") or "") if live else "no such alarm in CloudWatch",
                    "updated_at": str(live.get("StateUpdatedTimestamp", "")) if live else None,
                    "gates_rollout": alarm.gates_rollout, "severity": alarm.severity})
    return out


def rollout_or_unknown(target: OpsTarget, *, emulator_status: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The rollout, or why it cannot be read (a view must not fail on the rollout's bookkeeping)."""
    try:
        return rollout_status(target, emulator_status=emulator_status)
    except DeployerError as exc:
        return {"status": "unknown", "reason": exc.message}
