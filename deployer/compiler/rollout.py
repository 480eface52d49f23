"""Rollout: the policy becomes a step schedule with the evidence each step needs, and an engine.

Every number a backend needs is decided here, once (`RolloutModel`): the emulator's engine, the
Step Functions state machine and CodeDeploy only read them.

Evidence rule (the same in the emulator and in the state machine): a step below 100 % moves on
only when (1) its bake is over, (2) the new version has completed `min_requests` requests counted
from the first whole minute after the shift, and (3) every gating alarm has evaluated a full
window of its own that starts after the shift and holds data of the new version, at least
`evaluation_delay_s` ago. Without that evidence by `hold_limit_s` the rollout rolls back ("not
enough evidence"). No data is never "healthy".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from deployer.compiled import (
    AlarmModel,
    CodeDeployConfig,
    EvidenceWindow,
    QualityGateModel,
    RolloutModel,
    RolloutStep,
)
from deployer.compiler.alarms import CANARY_PREFIX, gating_alerts
from deployer.compiler.problems import Problems, defined
from deployer.spec.models import AgentSpec, CanaryRollout, EnvironmentSpec, LinearRollout, StepsRollout
from deployer.spec.types import format_duration

MAX_CODEDEPLOY_ALARMS = 10  # CodeDeploy's limit per deployment group
MAX_DESCRIBED_ALARMS = 100  # DescribeAlarms' limit of names per call (the state machine reads them in one)
#: Alarms and traffic are read this often (less when bakes or alarm periods are shorter).
CHECK_INTERVAL_S = 60
#: After a window closes, EMF metrics reach CloudWatch and the alarm evaluates them within this.
EVALUATION_DELAY_S = 120
#: A step waits for its evidence at most twice its bake, and never less than this past the
#: earliest moment the evidence can exist.
HOLD_MARGIN_S = 900
#: GetMetricStatistics returns at most 1,440 datapoints: the traffic query's period grows with the hold.
MAX_DATAPOINTS = 1440
#: The whole rollout's limit is its holds plus this: time for checks, retries and the rollback.
DURATION_MARGIN_S = 900


def compile_rollout(spec: AgentSpec, env: EnvironmentSpec, alarms: Sequence[AlarmModel], prefix: str,
                    problems: Problems, *, quality: QualityGateModel | None = None) -> RolloutModel:
    policy = spec.rollout
    schedule = _schedule(spec, problems)
    gating = _gating_alarms(spec, alarms, problems)
    notify = list(policy.notify)
    for index, name in enumerate(notify):
        if name not in spec.notifications:
            problems.error(("rollout", "notify", index),
                           f"names notification {name!r}, which is not defined under notifications {defined(spec.notifications)}",
                           reads=("notifications",))
    if not notify:  # the people who own the gating alerts hear how their rollout ended
        for alert in gating_alerts(spec):
            action = spec.alerts[alert].action
            notify += [t for t in ([action] if isinstance(action, str) else action) if t in spec.notifications]
    gating_set = set(gating)
    gating_models = [a for a in alarms if a.name in gating_set]
    _check_bakes(policy, schedule, gating_models, problems)
    rollout = plan_rollout(schedule, gating_models, min_requests=policy.min_requests_per_step, strategy=policy.strategy,
                           prefix=prefix, notify=tuple(dict.fromkeys(notify)), quality=quality)
    limit = MAX_CODEDEPLOY_ALARMS if rollout.engine == "codedeploy" else MAX_DESCRIBED_ALARMS
    if len(gating) > limit:
        where = problems.present(("rollout", "alarms"), ("alerts",))
        engine = "CodeDeploy" if rollout.engine == "codedeploy" else "the Step Functions rollout (one DescribeAlarms call)"
        names = [spec_name(a) for a in gating_models]
        listed = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        problems.error(where, f"{len(gating)} alarms would gate the rollout ({listed}); "
                              f"{engine} allows at most {limit}: set rollback: false on alerts that should only "
                              f"notify, or list the gating ones in rollout.alarms", reads=("alerts", "rollout"))
    _check_evidence(spec, env, rollout, problems)
    return rollout


def spec_name(alarm: AlarmModel) -> str:
    """The name the spec gives an alarm: an alert's, for the canary twin of that alert."""
    return alarm.name.removeprefix(CANARY_PREFIX) if alarm.source == "alert" else alarm.name


def plan_rollout(schedule: Sequence[tuple[float, int]], gating: Sequence[AlarmModel], *, min_requests: int,
                 strategy: str, prefix: str, notify: tuple[str, ...] = (),
                 quality: QualityGateModel | None = None) -> RolloutModel:
    """The rollout model of a step schedule [(percent, bake_s), ...] gated by `gating` alarms.

    Pure and total: the compiler calls it after checking the policy; `deployer drill --strategy`
    and tests call it to build a schedule the same way.
    """
    needs_evidence = min_requests > 0
    # CodeDeploy moves on time alone and compares nothing: evidence or a quality gate need the state machine
    codedeploy = None if needs_evidence or quality else _codedeploy(strategy, schedule, prefix)
    engine = "codedeploy" if codedeploy else "stepfunctions"
    evidence = evidence_windows(gating) if needs_evidence else ()
    delay = EVALUATION_DELAY_S if engine == "stepfunctions" else 0
    positive = [b for _, b in schedule[:-1] if b > 0] + [a.period_s for a in gating]
    check = max(1, min([CHECK_INTERVAL_S, *positive]))
    earliest = max([0, *(w.period_s + w.window_s for w in evidence)]) + delay if evidence else 0
    steps = []
    for index, (percent, bake) in enumerate(schedule):
        if index == len(schedule) - 1:
            steps.append(RolloutStep(percent, 0))
            continue
        hold = max(2 * bake, max(bake, earliest) + HOLD_MARGIN_S) if needs_evidence else bake
        minute = 60 * max(1, math.ceil(hold / (MAX_DATAPOINTS * 60)))
        steps.append(RolloutStep(percent, bake, hold, min_requests, minute))
    # the state machine watches the promoted version for one window of its alarms and their
    # evaluation; CodeDeploy stops watching when its last shift is done
    watch = max([0, *(a.window_s for a in gating)]) + delay if engine == "stepfunctions" and gating else 0
    duration = sum(s.hold_limit_s for s in steps) + watch + DURATION_MARGIN_S
    return RolloutModel(
        strategy=strategy,  # type: ignore[arg-type]
        steps=tuple(steps),
        engine=engine,  # type: ignore[arg-type]
        codedeploy=codedeploy,
        gating_alarms=tuple(a.name for a in gating),
        min_requests_per_step=min_requests,
        notify=notify,
        evidence=evidence,
        check_interval_s=check,
        evaluation_delay_s=delay,
        watch_s=watch,
        max_duration_s=duration,
        quality=quality,
    )


def evidence_windows(gating: Sequence[AlarmModel]) -> tuple[EvidenceWindow, ...]:
    """One window per distinct (period, window) of the gating alarms, in whole minutes."""
    grouped: dict[tuple[int, int], list[str]] = {}
    for alarm in gating:
        period = 60 * max(1, math.ceil(alarm.period_s / 60))
        window = max(period, 60 * math.ceil(alarm.window_s / 60))
        grouped.setdefault((period, window), []).append(alarm.name)
    return tuple(EvidenceWindow(tuple(names), period, window) for (period, window), names in sorted(grouped.items()))


def _schedule(spec: AgentSpec, problems: Problems) -> list[tuple[float, int]]:
    policy = spec.rollout
    if isinstance(policy, CanaryRollout):
        return [(policy.initial_percent, int(policy.bake)), (100.0, 0)]
    if isinstance(policy, LinearRollout):
        count = 100 / policy.step_percent  # inf for a denormal step: compare before int()
        if count > 100 or count != int(count):
            problems.error(("rollout", "step_percent"),
                           f"linear steps must add up to 100 exactly in at most 100 steps; {policy.step_percent:g} "
                           f"does not divide 100 (try 5, 10, 20, 25 or 50)")
            return [(100.0, 0)]
        steps = [(round(policy.step_percent * i, 6), int(policy.interval)) for i in range(1, int(count))]
        return [*steps, (100.0, 0)]
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
        return [(s.percent, int(s.bake) if i < len(policy.steps) - 1 else 0) for i, s in enumerate(policy.steps)]
    return [(100.0, 0)]


def _gating_alarms(spec: AgentSpec, alarms: Sequence[AlarmModel], problems: Problems) -> list[str]:
    for i, name in enumerate(spec.rollout.alarms or []):
        if name not in spec.alerts:
            problems.error(("rollout", "alarms", i), f"names alert {name!r}, which is not defined under alerts {defined(spec.alerts)}",
                           reads=("alerts",))
    return [a.name for a in alarms if a.gates_rollout]


def _step_path(policy: object, index: int, problems: Problems, *leaf: str) -> tuple[str | int, ...]:
    """Where a step's setting is written: the canary's bake, the linear interval or the step itself."""
    if isinstance(policy, CanaryRollout):
        return problems.present(("rollout", "bake"), ("rollout",))
    if isinstance(policy, LinearRollout):
        return problems.present(("rollout", "interval"), ("rollout",))
    if isinstance(policy, StepsRollout):
        return problems.present(("rollout", "steps", index, *leaf), ("rollout", "steps", index))
    return ("rollout",)


def _check_bakes(policy: object, schedule: list[tuple[float, int]], gating: list[AlarmModel], problems: Problems) -> None:
    """A bake shorter than an alarm's window would promote before the alarm could fire."""
    if not gating:
        return
    widest = max(gating, key=lambda a: a.window_s)
    window = f"{format_duration(widest.period_s)} x {widest.evaluation_periods} evaluation period{'s' * (widest.evaluation_periods != 1)}"
    for i, (percent, bake) in enumerate(schedule[:-1]):
        if bake >= widest.window_s:
            continue
        least = format_duration(widest.window_s)
        problems.error(_step_path(policy, i, problems, "bake"),
                       f"bake of {format_duration(bake)} at {percent:g}% is shorter than the window of alarm "
                       f"{spec_name(widest)!r} ({window} = {least}), so the rollout would move on before that alarm could "
                       f"fire; bake at least {least} or shorten the alarm", reads=("alerts", "slos"))
        if not isinstance(policy, StepsRollout):
            return  # one bake setting for every step: say it once


def _check_evidence(spec: AgentSpec, env: EnvironmentSpec, rollout: RolloutModel, problems: Problems) -> None:
    """Warn when the policy cannot tell a bad version from a good one, with the figures.

    The traffic a rollout sees is the environment's expected traffic or, in an environment with a
    load test (staging, local), the load test's rate if higher: there one deploys while it runs.
    """
    if len(rollout.steps) < 2:
        return
    if rollout.min_requests_per_step == 0:
        problems.warn(problems.present(("rollout", "min_requests_per_step"), ("rollout",)),
                      "min_requests_per_step is 0: steps move on time alone, so a version that gets no traffic is "
                      "promoted (CodeDeploy runs this rollout); set it to at least 100 to require evidence")
        return
    expected = env.expected_traffic.per_month() / (30 * 86400) if env.expected_traffic else None
    load = env.load_test.rps if env.load_test else None
    if expected is None and load is None:
        return
    per_second = max(expected or 0.0, load or 0.0)
    source = (f"the load test's {per_second:g} requests/s" if load is not None and load >= (expected or 0.0)
              else f"the expected traffic ({per_second * 86400:,.0f} requests/day)")
    for i, step in enumerate(rollout.steps[:-1]):
        rate = per_second * step.percent / 100
        within = rate * step.hold_limit_s
        if within >= step.min_requests:
            continue
        needed = format_duration(60 * math.ceil(step.min_requests / rate / 60)) if rate > 0 else "forever"
        where = _step_path(spec.rollout, i, problems, "bake")
        if where == ("rollout",) and problems.where(where) not in problems.source.values:  # the default policy
            where = ("environments", problems.environment or "", "load_test" if load else "expected_traffic")
        problems.warn(where,
                      f"step {i + 1} ({step.percent:g}%): {source} sends the new version about {within:.1f} requests "
                      f"within this step's hold limit of {format_duration(step.hold_limit_s)}, fewer than "
                      f"min_requests_per_step ({step.min_requests}): every rollout would roll back for lack of "
                      f"evidence; bake at least {needed} at this traffic, or lower min_requests_per_step", reads=("alerts", "slos", "environment"))


def _codedeploy(strategy: str, schedule: Sequence[tuple[float, int]], prefix: str) -> CodeDeployConfig | None:
    """The CodeDeploy config for schedules it runs exactly (whole percents, whole minutes); None otherwise."""
    if len(schedule) == 1:
        return CodeDeployConfig("all_at_once", 100, 0, f"{prefix}-all-at-once")
    percents = [p for p, _ in schedule]
    if any(b % 60 or b <= 0 for _, b in schedule[:-1]) or any(p != int(p) for p in percents):
        return None
    first, bake = int(percents[0]), schedule[0][1] // 60
    if len(schedule) == 2:
        return CodeDeployConfig("canary", first, bake, f"{prefix}-canary-{first}pct-{bake}min")
    increments = {round(b - a, 6) for a, b in zip([0.0, *percents[:-1]], percents, strict=True)}
    bakes = {b for _, b in schedule[:-1]}
    if len(increments) == 1 and len(bakes) == 1:
        return CodeDeployConfig("linear", first, bake, f"{prefix}-linear-{first}pct-{bake}min")
    return None
