"""What changed: the live and canary versions, the rollout, the alarms, and the live version
against the one before it (spec diff and code hash from the deploy records; error rate, p99 and
cost per request of each from its newest request records, cold starts left out of the latency).
"""

from __future__ import annotations

import time
from typing import Any

from deployer.errors import DeployerError
from deployer.ops.records import deploy_records_of
from deployer.ops.target import OpsTarget
from deployer.ops.versions import (
    DEFAULT_WINDOW_S,
    SAMPLE_LIMIT,
    alarm_states,
    rollout_or_unknown,
    version_figures,
    versions_in_play,
)

#: Keys of the compiled model that change on every deploy without saying anything about it.
_NOISE = ("spec_hash",)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists -> {"a.b[0].c": leaf}."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list):
        if not value and prefix:
            out[prefix] = []
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
    else:
        out[prefix] = value
    return out


def spec_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every changed leaf: path, before, after (missing on one side = None)."""
    if before is None or after is None:
        return []
    a, b = flatten(before), flatten(after)
    return [{"path": path, "before": a.get(path), "after": b.get(path)}
            for path in sorted(set(a) | set(b)) if a.get(path) != b.get(path) and path not in _NOISE]


def what_changed(target: OpsTarget, *, window_s: float = DEFAULT_WINDOW_S,
                 sample_limit: int = SAMPLE_LIMIT) -> dict[str, Any]:
    """The "what changed" report of `deployer debug` (a plain dict, JSON-ready)."""
    env = target.environment
    play = versions_in_play(target)
    if play.primary is None or play.current is None:
        raise DeployerError(f"nothing is deployed in {env!r} ({target.where}): no alias {target.model.alias} on "
                            f"{target.function_name}", hint=f"deploy first: `deployer deploy --env {env}`")
    current, before = play.current, play.before
    records = deploy_records_of(target.requests(), env, [current, before])
    figures = version_figures(target, [v for v in (current, before) if v], window_s=window_s, limit=sample_limit)
    current_record, before_record = records.get(current), records.get(before) if before else None
    views = {v: {"version": v, "deploy": r.to_dict() if r else None, **figures[v]}
             for v, r in ((current, current_record), (before, before_record)) if v}
    diff = spec_diff(before_record.spec if before_record else None, current_record.spec if current_record else None)
    report: dict[str, Any] = {
        "agent": target.model.agent, "environment": env, "where": target.where, "function": target.function_name,
        "alias": target.model.alias, "routing": play.routing, "rollout": rollout_or_unknown(target),
        "alarms": alarm_states(target), "current": views[current], "previous": views.get(before) if before else None,
        "spec_diff": diff, "current_role": play.role,
        "code_changed": (None if not (current_record and before_record)
                         else current_record.code_hash != before_record.code_hash),
        "window_s": window_s, "sample_limit": sample_limit,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    report["findings"] = findings(report)
    return report


def findings(report: dict[str, Any]) -> list[str]:
    """Short sentences a person reads first."""
    out: list[str] = []
    cur, prev = report["current"], report["previous"]
    firing = [a["name"] for a in report["alarms"] if a["state"] == "ALARM"]
    if firing:
        out.append(f"in ALARM: {', '.join(firing)}")
    if prev is None:
        out.append(f"no version before {cur['version']} to compare with")
        return out
    if report.get("current_role") == "rolled back":
        out.append(f"version {cur['version']} was deployed after the live version {prev['version']} and rolled back")
    if report["code_changed"] is True:
        out.append(f"code changed: {prev['deploy']['code_hash']} -> {cur['deploy']['code_hash']}")
    elif report["code_changed"] is False:
        out.append("same code as the version before")
    faults = (cur.get("deploy") or {}).get("faults")
    if faults:
        out.append(f"version {cur['version']} was deployed with injected faults {faults}")
    if report["spec_diff"]:
        paths = [d["path"] for d in report["spec_diff"]]
        out.append(f"{len(paths)} spec change(s): {', '.join(paths[:5])}{' ...' if len(paths) > 5 else ''}")
    for key, label, unit in (("error_rate_pct", "error rate", "%"), ("latency_p99_ms", "p99", " ms"),
                             ("cost_per_request_usd", "cost per request", " USD")):
        a, b = prev.get(key), cur.get(key)
        if a is not None and b is not None and a != b:
            out.append(f"{label}: {_fmt(a)}{unit} (v{prev['version']}) -> {_fmt(b)}{unit} (v{cur['version']})")
    for view in (prev, cur):
        if view.get("cold_starts"):
            out.append(f"p50/p99 of v{view['version']} leave out its {view['cold_starts']} cold-start request(s): "
                       "their latency includes starting an execution environment and loading the agent")
    if not cur["requests"]:
        out.append(f"version {cur['version']} has served no recorded requests in the window")
    return out


def _fmt(value: float) -> str:
    return f"{value:.6g}"
