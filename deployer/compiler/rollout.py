"""Rollout: the policy becomes a step schedule, and the engine that can run it in AWS."""

from __future__ import annotations

from deployer.compiled import AlarmModel, CodeDeployConfig, RolloutModel, RolloutStep
from deployer.compiler.problems import Problems
from deployer.spec.models import AgentSpec, CanaryRollout, LinearRollout, StepsRollout

MAX_GATING_ALARMS = 10  # CodeDeploy's limit per deployment group


def compile_rollout(spec: AgentSpec, alarms: list[AlarmModel], prefix: str, problems: Problems) -> RolloutModel:
    policy = spec.rollout
    steps = _steps(spec, problems)
    gating = _gating_alarms(spec, alarms, problems)
    for name in policy.notify:
        if name not in spec.notifications:
            problems.error(("rollout", "notify"), f"names notification {name!r}, which is not defined under notifications")
    _check_bakes(steps, [a for a in alarms if a.name in gating], problems)
    codedeploy = _codedeploy(policy, steps, prefix)
    return RolloutModel(
        strategy=policy.strategy,
        steps=tuple(steps),
        engine="codedeploy" if codedeploy else "stepfunctions",
        codedeploy=codedeploy,
        gating_alarms=tuple(gating),
        min_requests_per_step=policy.min_requests_per_step,
        notify=tuple(policy.notify),
    )


def _steps(spec: AgentSpec, problems: Problems) -> list[RolloutStep]:
    policy = spec.rollout
    if isinstance(policy, CanaryRollout):
        _whole_minutes(policy.bake, ("rollout", "bake"), problems)
        return [RolloutStep(policy.initial_percent, int(policy.bake)), RolloutStep(100, 0)]
    if isinstance(policy, LinearRollout):
        _whole_minutes(policy.interval, ("rollout", "interval"), problems)
        count = int(100 // policy.step_percent)
        if count * policy.step_percent != 100:
            problems.error(("rollout", "step_percent"), f"linear steps must add up to 100 exactly; {policy.step_percent:g} does not divide 100")
        steps = [RolloutStep(round(policy.step_percent * i, 6), int(policy.interval)) for i in range(1, count)]
        return [*steps, RolloutStep(100, 0)]
    if isinstance(policy, StepsRollout):
        percents = [s.percent for s in policy.steps]
        for i in range(1, len(percents)):
            if percents[i] <= percents[i - 1]:
                problems.error(("rollout", "steps", i, "percent"), f"steps must strictly increase: {percents[i]:g} follows {percents[i - 1]:g}")
        if percents[-1] != 100:
            problems.error(("rollout", "steps", len(percents) - 1, "percent"), f"the last step must be 100, got {percents[-1]:g}")
        for i, step in enumerate(policy.steps[:-1]):
            if step.bake <= 0:
                problems.error(("rollout", "steps", i), "every step before the last needs a bake (e.g. bake: 5m)")
            elif step.bake != int(step.bake):
                problems.error(("rollout", "steps", i, "bake"), "bakes are whole seconds")
        return [RolloutStep(s.percent, int(s.bake) if i < len(policy.steps) - 1 else 0) for i, s in enumerate(policy.steps)]
    return [RolloutStep(100, 0)]


def _whole_minutes(seconds: float, path: tuple[str, ...], problems: Problems) -> None:
    if seconds % 60:
        problems.error(path, f"CodeDeploy intervals are whole minutes, got {seconds:g}s (use e.g. 1m or 5m, or strategy: steps)")


def _gating_alarms(spec: AgentSpec, alarms: list[AlarmModel], problems: Problems) -> list[str]:
    chosen = spec.rollout.alarms
    if chosen is None:
        names = [a.name for a in alarms if a.gates_rollout]
    else:
        names = [a.name for a in alarms if a.source != "alert"]
        for i, name in enumerate(chosen):
            if name not in spec.alerts:
                known = ", ".join(sorted(spec.alerts)) or "none defined"
                problems.error(("rollout", "alarms", i), f"names alert {name!r}, which is not defined under alerts (defined: {known})")
            elif name not in names:
                names.append(name)
    if len(names) > MAX_GATING_ALARMS:
        problems.error(("rollout",), f"{len(names)} alarms gate this rollout ({', '.join(names)}); "
                                     f"CodeDeploy allows at most {MAX_GATING_ALARMS}: set rollback: false on some alerts")
    return names


def _check_bakes(steps: list[RolloutStep], gating: list[AlarmModel], problems: Problems) -> None:
    """A bake shorter than an alarm's window would promote before the alarm could fire."""
    if not gating:
        return
    widest = max(gating, key=lambda a: a.window_s)
    for i, step in enumerate(steps[:-1]):
        if step.bake_s < widest.window_s:
            problems.error(("rollout",), f"step {i + 1} ({step.percent:g}%) bakes {step.bake_s}s, shorter than alarm "
                                         f"{widest.name!r}'s window of {widest.window_s}s (period x evaluation_periods); "
                                         f"bake longer or shorten the alarm")


def _codedeploy(policy: object, steps: list[RolloutStep], prefix: str) -> CodeDeployConfig | None:
    """The CodeDeploy config for schedules it can express; None means Step Functions."""
    if len(steps) == 1:
        return CodeDeployConfig("all_at_once", 100, 0, f"{prefix}-all-at-once")
    if any(s.bake_s % 60 for s in steps[:-1]):
        return None
    first = steps[0]
    if len(steps) == 2:
        return CodeDeployConfig("canary", first.percent, first.bake_s // 60, f"{prefix}-canary-{first.percent:g}pct-{first.bake_s // 60}min")
    percents = [s.percent for s in steps]
    increments = {round(b - a, 6) for a, b in zip([0.0, *percents[:-1]], percents, strict=True)}
    bakes = {s.bake_s for s in steps[:-1]}
    if isinstance(policy, LinearRollout) or (len(increments) == 1 and len(bakes) == 1):
        return CodeDeployConfig("linear", first.percent, first.bake_s // 60, f"{prefix}-linear-{first.percent:g}pct-{first.bake_s // 60}min")
    return None
