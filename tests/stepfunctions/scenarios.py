"""Rollout scenarios run through both engines: the synthesized state machine (executed in moto's
interpreter) and the emulator's `RolloutEngine`.

A scenario is traffic plus faults. The same `World` plays users and CloudWatch for either engine:
every `TICK_S` of emulated time it sends `rate_rps` requests split by the alias weights the engine
set, puts the new version's `Invocations`/`Errors` into a `MetricStore` (and, for the state
machine, into moto's CloudWatch), and evaluates the gating alarms with the emulator's
`AlarmEvaluator` (for the state machine, writing their states into moto: moto never evaluates
alarms). Only the engine under test differs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from deployer.compiled import METRIC_NAMESPACE, DeploymentModel
from deployer.local.behaviour.alarms import AlarmEvaluator
from deployer.local.behaviour.clock import ManualClock
from deployer.local.behaviour.metrics import MetricKey, MetricStore
from deployer.local.behaviour.rollout import RolloutEngine, RolloutState
from infra.naming import alarm_name, stack_name

STABLE, CANDIDATE = "7", "8"
TICK_S = 10.0
T0 = 1_800_000_000.0  # a whole minute


@dataclass(frozen=True)
class Scenario:
    name: str
    expected_percents: tuple[float, ...]  # candidate share after each alias update (0: rolled back)
    expected_verdict: str  # succeeded | rolled_back
    expected_trigger: str | None = None  # alarm | evidence | deadline | failure
    rate_rps: float = 20.0
    #: share of the candidate's requests that fail, given its current share of traffic
    errors: Callable[[float], float] = lambda share: 0.0
    traffic_after_s: float = 0.0  # no requests at all before this (emulated seconds after the start)
    jump_at_s: float | None = None  # the clock jumps ahead by the rollout's time limit at this moment
    faults: tuple[tuple[str, str, int], ...] = ()  # interpreter calls that fail first: (service, operation, times)
    rollback_faults: int = 0  # UpdateAlias failures injected when the first gating alarm fires


SCENARIOS = (
    Scenario("healthy promotion", (5, 50, 100), "succeeded"),
    Scenario("alarm at the first step", (5, 0), "rolled_back", "alarm", errors=lambda share: 0.3),
    Scenario("alarm at the middle step", (5, 50, 0), "rolled_back", "alarm",
             errors=lambda share: 0.3 if 0.4 < share < 1 else 0.0),
    Scenario("alarm after 100 %", (5, 50, 100, 0), "rolled_back", "alarm",
             errors=lambda share: 0.3 if share >= 1 else 0.0),
    Scenario("no datapoints yet", (5, 50, 100), "succeeded", traffic_after_s=420),
    Scenario("not enough traffic", (5, 0), "rolled_back", "evidence", rate_rps=0.5),
    Scenario("throttles that recover", (5, 50, 100), "succeeded",
             faults=(("lambda", "UpdateAlias", 2), ("cloudwatch", "DescribeAlarms", 2),
                     ("cloudwatch", "GetMetricStatistics", 1))),
    Scenario("a rollback that fails twice", (5, 0), "rolled_back", "alarm", errors=lambda share: 0.3,
             rollback_faults=2),
    Scenario("the execution time limit", (5, 0), "rolled_back", "deadline", jump_at_s=130),
)


@dataclass
class Outcome:
    percents: list[float]
    times: list[float]  # emulated seconds after the start, one per alias update
    verdict: str
    trigger: str | None
    reason: str
    notifications: list[str] = field(default_factory=list)


class World:
    """Users and CloudWatch for one scenario; `weights()` reads the alias as the engine left it."""

    def __init__(self, model: DeploymentModel, scenario: Scenario, *, start: float,
                 weights: Callable[[], dict[str, float]], set_state: Callable[[str, str, str], None] | None = None,
                 put: Callable[[str, float, float], None] | None = None) -> None:
        self.model, self.scenario, self.start = model, scenario, start
        self._weights, self._set_state, self._put = weights, set_state, put
        self.store = MetricStore(retention_s=7200.0, minute_retention_s=86400.0)
        gating = [a for a in model.alarms if a.name in model.rollout.gating_alarms]
        self.evaluator = AlarmEvaluator(gating, self.store, agent=model.agent, environment=model.environment,
                                        on_transition=self._transition)
        self.evaluator.watch(CANDIDATE, start)
        self._last = start
        self._carry = {"Invocations": 0.0, "Errors": 0.0}
        self._lock = threading.Lock()
        self.alarm_fired = threading.Event()
        self.on_first_alarm: Callable[[], None] | None = None

    def key(self, metric: str) -> MetricKey:
        return MetricKey.of(METRIC_NAMESPACE, metric, {"Agent": self.model.agent,
                                                       "Environment": self.model.environment, "Version": CANDIDATE})

    def tick(self, now: float) -> None:
        """Requests since the last tick, then an alarm evaluation."""
        with self._lock:
            begin, self._last = max(self._last, self.start + self.scenario.traffic_after_s), now
            share = self._weights().get(CANDIDATE, 0.0)
            if now > begin and share > 0:
                served = self.scenario.rate_rps * (now - begin) * share + self._carry["Invocations"]
                count = int(served)
                self._carry["Invocations"] = served - count
                failed = count * self.scenario.errors(share) + self._carry["Errors"]
                errors = int(failed)
                self._carry["Errors"] = failed - errors
                if count:
                    self._record("Invocations", now, count)
                    self._record("Errors", now, errors)
            self.evaluator.evaluate_all(now)

    def _record(self, metric: str, at: float, value: float) -> None:
        self.store.add(self.key(metric), at, value)
        if self._put is not None:
            self._put(metric, at, value)

    def _transition(self, t: Any) -> None:
        if self._set_state is not None:
            self._set_state(alarm_name(self.model, t.alarm), t.new, t.reason)
        if t.new == "ALARM" and not self.alarm_fired.is_set():
            self.alarm_fired.set()
            if self.on_first_alarm is not None:
                self.on_first_alarm()

    def firing(self, at: float) -> list[tuple[str, str]]:
        with self._lock:
            return [(s.name, s.reason) for s in self.evaluator.firing()]

    def traffic(self, version: str, start: float, end: float, period: int) -> list[tuple[float, float]]:
        return self.store.sums(self.key("Invocations"), start, end, period)


def percent_of(primary: str, weights: dict[str, float]) -> float:
    if primary == CANDIDATE:
        return 100.0
    return round(100 * float(weights.get(CANDIDATE, 0.0)), 6)


def trigger_of(reason: str) -> str | None:
    """The kind of rollback a reason describes, in the words of either engine."""
    for words, kind in (("ALARM", "alarm"), ("not enough evidence", "evidence"), ("past its limit", "deadline"),
                        ("failed ", "failure")):
        if words in reason:
            return kind
    return None


# -- the emulator's engine ----------------------------------------------------------------------


class _TickingClock(ManualClock):
    """A manual clock whose waits move in `TICK_S` steps, letting the world act at each one."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.world: World | None = None
        self.jump_at: float | None = None
        self.jump_by = 0.0

    def wait(self, event: threading.Event, seconds: float) -> bool:
        remaining = seconds
        while remaining > 1e-9:
            if event.is_set():
                return True
            step = min(TICK_S, remaining)
            self.advance(step)
            remaining -= step
            if self.jump_at is not None and self.now() >= self.jump_at:
                self.jump_at = None
                self.advance(self.jump_by)
            if self.world is not None:
                self.world.tick(self.now())
        return event.is_set()


def run_emulator_engine(model: DeploymentModel, scenario: Scenario) -> Outcome:
    clock = _TickingClock(T0)
    routing: dict[str, Any] = {"primary": STABLE, "additional": {}}
    updates: list[tuple[float, float]] = []

    def weights() -> dict[str, float]:
        additional = routing["additional"]
        return {routing["primary"]: 1.0 - sum(additional.values()), **additional}

    world = World(model, scenario, start=T0, weights=weights)
    clock.world = world
    if scenario.jump_at_s is not None:
        clock.jump_at, clock.jump_by = T0 + scenario.jump_at_s, float(model.rollout.max_duration_s)

    def apply(primary: str, additional: dict[str, float]) -> None:
        routing.update(primary=primary, additional=dict(additional))
        updates.append((clock.now() - T0, percent_of(primary, additional)))

    state = RolloutEngine.plan(CANDIDATE, STABLE, model.rollout.steps, T0)
    engine = RolloutEngine(state, model.rollout, clock=clock, check_alarms=world.firing, traffic=world.traffic,
                           apply_weights=apply, on_change=lambda s, e: None)
    done: RolloutState = engine.run()
    return Outcome([p for _, p in updates], [t for t, _ in updates], done.status, done.trigger, done.reason or "")


# -- the synthesized state machine, executed ----------------------------------------------------


def run_state_machine(harness: Any, template: dict[str, Any], model: DeploymentModel, scenario: Scenario,
                      *, timeout_s: float = 60.0) -> Outcome:
    """Deploy the template's resources into the harness's moto and execute the rollout."""
    stack = harness.deploy_template(template, stack_name=stack_name(model))
    function = model.function.name
    cloudwatch = harness.client("cloudwatch")
    start = harness.clock.now()

    def put(metric: str, at: float, value: float) -> None:
        import datetime as dt

        cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=[{
            "MetricName": metric, "Value": value, "Unit": "Count",
            "Timestamp": dt.datetime.fromtimestamp(at, tz=dt.UTC),
            "Dimensions": [{"Name": "Agent", "Value": model.agent},
                           {"Name": "Environment", "Value": model.environment},
                           {"Name": "Version", "Value": CANDIDATE}]}])

    world = World(model, scenario, start=start, weights=lambda: harness.alias_weights(function),
                  set_state=lambda name, state, reason: harness.set_alarm(name, state, reason[:1000]), put=put)
    if scenario.rollback_faults:
        world.on_first_alarm = lambda: harness.fail("lambda", "UpdateAlias", times=scenario.rollback_faults)
    for service, operation, times in scenario.faults:
        harness.fail(service, operation, times=times)
    jumped = threading.Event()

    def simulate(h: Any, now: float) -> None:
        if scenario.jump_at_s is not None and not jumped.is_set() and now - start >= scenario.jump_at_s:
            jumped.set()
            h.clock.advance(model.rollout.max_duration_s)
            now = h.clock.now()
        world.tick(now)

    harness.every(TICK_S, simulate)
    result = harness.run(stack.state_machine_arn, {"stable": STABLE, "candidate": CANDIDATE}, timeout_s=timeout_s)
    updates = [u for u in result.alias_updates if u.function == function]
    verdict = {"SUCCEEDED": "succeeded", "FAILED": "rolled_back" if result.error == "RolloutRolledBack" else "failed"}
    reason = result.cause or ""
    return Outcome([percent_of(u.version, u.weights) for u in updates], [u.at - start for u in updates],
                   verdict.get(result.status, result.status.lower()), trigger_of(reason), reason,
                   [n.subject or "" for n in result.notifications])
