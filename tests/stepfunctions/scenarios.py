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
from deployer.evaluation.online import VersionSignals
from deployer.local.behaviour.alarms import AlarmEvaluator
from deployer.local.behaviour.clock import ManualClock
from deployer.local.behaviour.metrics import MetricKey, MetricStore
from deployer.local.behaviour.rollout import RolloutEngine, RolloutState
from deployer.naming import alarm_name, stack_name

STABLE, CANDIDATE = "7", "8"
TICK_S = 10.0
#: how the stable version's answers spread over the spec's labels (tests/stepfunctions/conftest.py)
LABEL_SHARES = {"cards": 0.5, "transfers": 0.3, "fraud": 0.2}
STABLE_LOW_CONFIDENCE = 0.05
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
    #: the candidate's answers: the first label said as the second (a model that confuses two teams)
    confused: bool = False
    low_confidence: float = 0.05  # share of the candidate's answers below the confidence threshold


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
    Scenario("a model that confuses two teams", (5, 0), "rolled_back", "quality", confused=True, rate_rps=60),
    Scenario("a model that is less sure", (5, 0), "rolled_back", "quality", low_confidence=0.4, rate_rps=60),
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
                 put: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.model, self.scenario, self.start = model, scenario, start
        self._weights, self._set_state, self._put = weights, set_state, put
        self.store = MetricStore(retention_s=7200.0, minute_retention_s=86400.0)
        gating = [a for a in model.alarms if a.name in model.rollout.gating_alarms]
        self.evaluator = AlarmEvaluator(gating, self.store, agent=model.agent, environment=model.environment,
                                        on_transition=self._transition)
        self.evaluator.watch(CANDIDATE, start)
        self._last = start
        self._carry: dict[str, float] = {}
        self._lock = threading.Lock()
        self.alarm_fired = threading.Event()
        self.on_first_alarm: Callable[[], None] | None = None

    def key(self, metric: str, version: str = CANDIDATE, label: str | None = None) -> MetricKey:
        dims = {"Agent": self.model.agent, "Environment": self.model.environment, "Version": version}
        return MetricKey.of(METRIC_NAMESPACE, metric, {**dims, "Label": label} if label else dims)

    def _count(self, name: str, amount: float) -> int:
        """Whole requests out of a fractional amount, the remainder carried to the next tick."""
        total = amount + self._carry.get(name, 0.0)
        whole = int(total)
        self._carry[name] = total - whole
        return whole

    def tick(self, now: float) -> None:
        """Requests since the last tick (answers of both versions), then an alarm evaluation."""
        with self._lock:
            begin, self._last = max(self._last, self.start + self.scenario.traffic_after_s), now
            weights = self._weights()
            share = weights.get(CANDIDATE, 0.0)
            batch: list[dict[str, Any]] = []
            if now > begin and share > 0:
                count = self._count("Invocations", self.scenario.rate_rps * (now - begin) * share)
                errors = self._count("Errors", count * self.scenario.errors(share))
                if count:
                    self._record(batch, "Invocations", now, count)
                    self._record(batch, "Errors", now, errors)
            if now > begin:
                for version, weight in weights.items():
                    self._answers(batch, version, now, self.scenario.rate_rps * (now - begin) * weight)
            if batch and self._put is not None:
                self._put(batch)  # one PutMetricData a tick, as the runtime's EMF lines arrive in CloudWatch
            self.evaluator.evaluate_all(now)

    def _answers(self, batch: list[dict[str, Any]], version: str, now: float, amount: float) -> None:
        """The online quality signals of one version's answers (handlers/quality.py's metrics)."""
        candidate = version == CANDIDATE
        labels = list(LABEL_SHARES)
        for label, share in LABEL_SHARES.items():
            said = labels[1] if candidate and self.scenario.confused and label == labels[0] else label
            n = self._count(f"{version}/{label}", amount * share)
            if n:
                self._record(batch, "Answers", now, n, version=version, label=said)
        scored = self._count(f"{version}/scored", amount)
        low_share = self.scenario.low_confidence if candidate else STABLE_LOW_CONFIDENCE
        low = self._count(f"{version}/low", scored * low_share)
        if scored:
            key = self.key("LowConfidence", version)
            for value in [1.0] * low + [0.0] * (scored - low):
                self.store.add(key, now, value)
            batch.append(self._datum("LowConfidence", now, version, None, Values=[1.0, 0.0], Counts=[low, scored - low]))

    def _record(self, batch: list[dict[str, Any]], metric: str, at: float, value: float, *, version: str = CANDIDATE,
                label: str | None = None) -> None:
        self.store.add(self.key(metric, version, label), at, value)
        batch.append(self._datum(metric, at, version, label, Value=value))

    def _datum(self, metric: str, at: float, version: str, label: str | None, **value: Any) -> dict[str, Any]:
        import datetime as dt

        dims = [{"Name": "Agent", "Value": self.model.agent}, {"Name": "Environment", "Value": self.model.environment},
                {"Name": "Version", "Value": version}] + ([{"Name": "Label", "Value": label}] if label else [])
        # stamped on the minute, as CloudWatch aggregates a standard-resolution metric (moto would
        # otherwise start its periods at the first datapoint instead of the period boundaries)
        minute = at // 60 * 60
        return {"MetricName": metric, "Unit": "Count", "Timestamp": dt.datetime.fromtimestamp(minute, tz=dt.UTC),
                "Dimensions": dims, **value}

    def signals(self, version: str, start: float, end: float) -> VersionSignals:
        answers = {label: sum(v for _, v in self.store.sums(self.key("Answers", version, label), start, end))
                   for label in LABEL_SHARES}
        low = self.store.values(self.key("LowConfidence", version), start, end)
        return VersionSignals(answers, float(sum(low)), float(len(low)))

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
    for words, kind in (("quality:", "quality"), ("ALARM", "alarm"), ("not enough evidence", "evidence"), ("past its limit", "deadline"),
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
                remaining = 0.0  # the clock is past the wait's end: the waiter wakes (as in the harness)
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
                           apply_weights=apply, on_change=lambda s, e: None, signals=world.signals)
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

    def put(batch: list[dict[str, Any]]) -> None:
        for i in range(0, len(batch), 1000):
            cloudwatch.put_metric_data(Namespace=METRIC_NAMESPACE, MetricData=batch[i:i + 1000])

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
