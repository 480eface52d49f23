"""A model with another rollout schedule, planned by the compiler as a spec's would be."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from deployer.compiled import DeploymentModel
from deployer.compiler.rollout import plan_rollout


def with_schedule(model: DeploymentModel, schedule: Sequence[tuple[float, int]], *, min_requests: int = 0,
                  strategy: str = "steps") -> DeploymentModel:
    """`schedule` is [(percent, bake_s), ...] ending at 100; min_requests 0 needs no evidence."""
    gating = [a for a in model.alarms if a.name in model.rollout.gating_alarms]
    rollout = plan_rollout(schedule, gating, min_requests=min_requests, strategy=strategy,
                           prefix=f"{model.agent}-{model.environment}", notify=model.rollout.notify)
    return replace(model, rollout=rollout)
