"""What changed: the live and canary versions, the rollout, the alarms, and the live version
against the one before it (spec diff and code hash from the deploy records; error rate, p99 and
cost per request of each from the request records).
"""

from __future__ import annotations

import time
from typing import Any

from deployer.errors import DeployerError
from deployer.ops.records import DeployRecord, deploy_record, deploy_records, recent_requests, summarize
from deployer.ops.replay import alias_routing
from deployer.ops.rollout import rollout_status
from deployer.ops.target import OpsTarget

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


def previous_version(target: OpsTarget, current: str, records: list[DeployRecord]) -> str | None:
    """The version deployed before `current`: from the deploy records, else the published versions."""
    ordered = sorted(records, key=lambda r: (r.ts_ms, _num(r.version)))
    numbers = [r.version for r in ordered]
    if current in numbers:
        index = numbers.index(current)
        return numbers[index - 1] if index > 0 else None
    published = sorted((str(v.get("Version")) for v in target.function().versions()), key=_num)
    earlier = [v for v in published if _num(v) < _num(current)]
    return earlier[-1] if earlier else None


def _num(version: str) -> int:
    return int(version) if version.isdigit() else -1


def _version_view(target: OpsTarget, version: str, record: DeployRecord | None, window_s: float,
                  sample_limit: int) -> dict[str, Any]:
    rows = recent_requests(target.requests(), ttl_days=target.model.request_log.ttl_days, limit=sample_limit,
                           since_s=window_s, version=version)
    return {"version": version, "deploy": record.to_dict() if record else None, **summarize(rows),
            "sampled": len(rows) >= sample_limit}


def what_changed(target: OpsTarget, *, window_s: float = 86400.0, sample_limit: int = 5000) -> dict[str, Any]:
    """The "what changed" report of `deployer debug` (a plain dict, JSON-ready)."""
    env = target.environment
    primary, additional = alias_routing(target)
    if primary is None:
        raise DeployerError(f"nothing is deployed in {env!r} ({target.where}): no alias {target.model.alias} on "
                            f"{target.function_name}", hint=f"deploy first: `deployer deploy --env {env}`")
    canary = max(additional.items(), key=lambda kv: kv[1])[0] if additional else None
    table = target.requests()
    records = deploy_records(table, env, limit=200)
    # a version deployed after the live one and no longer served was rolled back: that is what changed
    newer = [r.version for r in records if _num(r.version) > _num(primary)]
    rolled_back = None if canary else (max(newer, key=_num) if newer else None)
    current = canary or rolled_back or primary
    before = primary if (canary or rolled_back) else previous_version(target, current, records)
    by_version = {r.version: r for r in records}
    current_record = by_version.get(current) or deploy_record(table, env, current)
    before_record = (by_version.get(before) or deploy_record(table, env, before)) if before else None
    routing = [{"version": primary, "weight": round(1.0 - sum(additional.values()), 6), "role": "stable"}]
    routing += [{"version": v, "weight": w, "role": "canary"} for v, w in additional.items()]
    alarms = _alarms(target)
    try:
        rollout = rollout_status(target)
    except DeployerError as exc:
        rollout = {"status": "unknown", "error": exc.message}
    current_view = _version_view(target, current, current_record, window_s, sample_limit)
    before_view = _version_view(target, before, before_record, window_s, sample_limit) if before else None
    diff = spec_diff(before_record.spec if before_record else None, current_record.spec if current_record else None)
    report: dict[str, Any] = {
        "agent": target.model.agent, "environment": env, "where": target.where, "function": target.function_name,
        "alias": target.model.alias, "routing": routing, "rollout": rollout, "alarms": alarms,
        "current": current_view, "previous": before_view, "spec_diff": diff,
        "current_role": "canary" if canary else ("rolled back" if rolled_back else "live"),
        "code_changed": (None if not (current_record and before_record)
                         else current_record.code_hash != before_record.code_hash),
        "window_s": window_s, "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    report["findings"] = findings(report)
    return report


def _alarms(target: OpsTarget) -> list[dict[str, Any]]:
    names = {target.alarm_name(a.name): a for a in target.model.alarms}
    found = {a["AlarmName"]: a for a in target.cloudwatch().alarms(list(names))} if names else {}
    out = []
    for cw_name, alarm in names.items():
        live = found.get(cw_name)
        out.append({"name": alarm.name, "alarm_name": cw_name, "state": live.get("StateValue") if live else "MISSING",
                    "reason": live.get("StateReason") if live else "no such alarm in CloudWatch",
                    "updated_at": str(live.get("StateUpdatedTimestamp", "")) if live else None,
                    "gates_rollout": alarm.gates_rollout, "severity": alarm.severity})
    return out


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
    if not cur["requests"]:
        out.append(f"version {cur['version']} has served no recorded requests in the window")
    return out


def _fmt(value: float) -> str:
    return f"{value:.6g}"
