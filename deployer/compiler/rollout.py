"""Rollout: the policy becomes a step schedule, and the engine that can run it in AWS."""

from __future__ import annotations

from deployer.compiled import AlarmModel, CodeDeployConfig, RolloutModel, RolloutStep
from deployer.compiler.problems import Problems, defined
from deployer.spec.models import AgentSpec, CanaryRollout, LinearRollout, StepsRollout
from deployer.spec.types import format_duration

MAX_GATING_ALARMS = 10  # CodeDeploy's limit per deployment group


def compile_rollout(spec: AgentSpec, alarms: list[AlarmModel], prefix: str, problems: Problems) -> RolloutModel:
    policy = spec.rollout
    steps = _steps(spec, problems)
    gating = _gating_alarms(spec, alarms, problems)
    for index, name in enumerate(policy.notify):
        if name not in spec.notifications:
            problems.error(("rollout", "notify", index),
                           f"names notification {name!r}, which is not defined under notifications {defined(spec.notifications)}")
    _check_bakes(policy, steps, [a for a in alarms if a.name in gating], problems)
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
                problems.error(("rollout", "alarms", i), f"names alert {name!r}, which is not defined under alerts {defined(spec.alerts)}")
            elif name not in names:
                names.append(name)
    if len(names) > MAX_GATING_ALARMS:
        where = problems.present(("rollout", "alarms"), ("alerts",))
        problems.error(where, f"{len(names)} alarms would gate the rollout ({', '.join(names)}); CodeDeploy allows at most "
                              f"{MAX_GATING_ALARMS}: set rollback: false on alerts that should only notify, or list the gating "
                              f"ones in rollout.alarms")
    return names


def _check_bakes(policy: object, steps: list[RolloutStep], gating: list[AlarmModel], problems: Problems) -> None:
    """A bake shorter than an alarm's window would promote before the alarm could fire."""
    if not gating:
        return
    widest = max(gating, key=lambda a: a.window_s)
    window = f"{format_duration(widest.period_s)} x {widest.evaluation_periods} evaluation period{'s' * (widest.evaluation_periods != 1)}"
    for i, step in enumerate(steps[:-1]):
        if step.bake_s >= widest.window_s:
            continue
        if isinstance(policy, CanaryRollout):
            path: tuple[str | int, ...] = problems.present(("rollout", "bake"), ("rollout",))
        elif isinstance(policy, LinearRollout):
            path = problems.present(("rollout", "interval"), ("rollout",))
        else:
            path = problems.present(("rollout", "steps", i, "bake"), ("rollout", "steps", i))
        least = format_duration(widest.window_s)
        problems.error(path, f"bake of {format_duration(step.bake_s)} at {step.percent:g}% is shorter than the window of alarm "
                             f"{widest.name!r} ({window} = {least}), so the rollout would move on before that alarm could "
                             f"fire; bake at least {least} or shorten the alarm")
        if not isinstance(policy, StepsRollout):
            return  # one bake setting for every step: say it once


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
