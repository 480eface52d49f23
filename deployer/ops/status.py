"""`deployer status`: versions, alias weights, rollout and alarm states of one environment.

One view for the emulator and AWS, read with the same clients: versions from Lambda, weights
from the live alias, the alarms from CloudWatch, what each version was deployed with from its
deploy record, and the requests and errors of the versions in play from the same request records
`deployer debug` reads. The emulator adds what only it knows (its rollout engine, a restart).
"""

from __future__ import annotations

from typing import Any

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


def status(target: OpsTarget, *, window_s: float = DEFAULT_WINDOW_S, sample_limit: int = SAMPLE_LIMIT) -> dict[str, Any]:
    """Function, alias, routing, versions (with their deploy records and request counts), rollout, alarms."""
    play = versions_in_play(target)
    emulator = target.emulator()
    local = emulator.status() if emulator is not None else None
    records = deploy_records_of(target.requests(), target.environment, play.published)
    figures = version_figures(target, play.counted, window_s=window_s, limit=sample_limit) if play.counted else {}
    versions = []
    for number in play.published:
        record = records.get(number)
        counts = figures.get(number)
        detail = play.details.get(number, {})
        versions.append({
            "version": number, "description": str(detail.get("Description", "")),
            "last_modified": detail.get("LastModified"),
            "code_hash": record.code_hash if record else None, "spec_hash": record.spec_hash[:12] if record else None,
            "faults": record.faults if record else {}, "deployed_by": record.deployed_by if record else None,
            "requests": counts["requests"] if counts else None, "errors": counts["errors"] if counts else None,
            "sampled": counts["sampled"] if counts else False})
    return {
        "agent": target.model.agent, "environment": target.environment, "where": target.where,
        "function": target.function_name, "alias": target.model.alias, "versions": versions,
        "routing": {"primary": play.primary, "additional": play.additional},
        "stable_version": (local or {}).get("stable_version", play.primary),
        "rollout": rollout_or_unknown(target, emulator_status=local) if play.primary is not None or local else None,
        "alarms": [{**a, "updated": a["updated_at"]} for a in alarm_states(target)],
        "restart_notice": (local or {}).get("restart_notice"),
        "problems": (local or {}).get("problems") or [],  # the emulator's parts failing now (it retries)
        "request_log": (local or {}).get("request_log") or None,  # the emulator's request-log counters
        "window_s": window_s, "sample_limit": sample_limit,
    }
