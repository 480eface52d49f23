"""The status view: what `deployer status --env local` and `GET /status` show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.local.behaviour.alarms import AlarmEvaluator
from deployer.local.behaviour.clock import iso
from deployer.local.bundles.gateway import FunctionRuntime
from deployer.local.state.store import StateStore


def status_view(*, model: DeploymentModel, store: StateStore, runtime: FunctionRuntime, evaluator: AlarmEvaluator,
                endpoints: Callable[[], dict[str, Any]], now: Callable[[], float], rollout: Callable[[], dict[str, Any] | None],
                restart_notice: str | None, request_log: dict[str, Any] | None = None) -> dict[str, Any]:
    """Versions with their request counts, routing, the stable version, the rollout, the alarms; what is
    failing now (`problems`: part, what, error, since, failures) and the request log's counters."""
    with store.lock:
        state = store.state
        versions = []
        counters = runtime.all_counters()
        for v in state.versions:
            c = counters.get(v.version)
            versions.append({"version": v.version, "created_at": iso(v.created_at), "code_hash": v.code_hash,
                             "spec_hash": v.spec_hash[:12], "faults": v.faults, "description": v.description,
                             "requests": c.requests if c else 0, "errors": c.errors if c else 0})
        return {
            "agent": model.agent, "environment": model.environment,
            "function": model.function.name, "alias": model.alias,
            "endpoints": endpoints(), "now": iso(now()),
            "versions": versions,
            "routing": {"primary": state.primary, "additional": dict(state.additional)},
            "stable_version": state.stable_version,
            "rollout": rollout(),
            "alarms": [{"name": s.name, "state": s.state, "reason": s.reason, "version": s.version,
                        "updated_at": iso(s.updated_at) if s.updated_at else None,
                        "datapoints": s.datapoints} for s in evaluator.status()],
            "restart_notice": restart_notice,
            "problems": store.health.problems(),
            "request_log": request_log or {},
        }
