"""Alarm evaluation with CloudWatch semantics, because moto never evaluates alarms.

For each alarm and evaluation time T the evaluator takes the last `evaluation_periods` complete
periods before T (periods aligned to multiples of `period_s`, as CloudWatch aligns them), computes
one datapoint per period and classifies it as breaching (B), not breaching (G) or missing (-).
Then, as CloudWatch does:

- missing data: `breaching` counts a missing period as B, `notBreaching` as G; `ignore` and
  `missing` leave it out. With every period missing, `missing` goes to INSUFFICIENT_DATA and
  `ignore` keeps the current state.
- M out of N: ALARM when at least `datapoints_to_alarm` periods are B, otherwise OK.
- statistics: Sum, Average, Minimum, Maximum, SampleCount and percentiles (`p99`, `p99.9`) computed
  from the raw values (nearest rank). A percentile over fewer than 10/(1-p) samples (10/p below
  p50) is "low sample": with `evaluate_low_sample_count="evaluate"` (CloudWatch's default) it is
  evaluated anyway; with "ignore" the alarm keeps its state while samples are too few.
- error rate is metric math `100 * Errors / Invocations` (both Sum) per period; a period without
  invocations is missing, a period with invocations and no Errors datapoint counts 0 errors.

Every change of state produces a `Transition` with a CloudWatch-style reason; the emulator writes
it into moto (`set_alarm_state`) and notifies the alarm's targets.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from deployer.compiled import METRIC_NAMESPACE, AlarmModel
from deployer.local.clock import Clock
from deployer.local.metrics import MetricKey, MetricStore

State = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
LowSamplePolicy = Literal["evaluate", "ignore"]

_COMPARISON_WORDS = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


@dataclass(frozen=True)
class PeriodValue:
    start: float
    value: float | None  # None: no data in the period
    samples: int
    low_sample: bool = False


@dataclass(frozen=True)
class Transition:
    alarm: str
    old: State
    new: State
    reason: str
    at: float
    version: str | None
    gates_rollout: bool
    notify: tuple[str, ...]
    severity: str


@dataclass
class AlarmStatus:
    name: str
    state: State = "INSUFFICIENT_DATA"
    reason: str = "Unchecked: initial alarm creation"
    updated_at: float = 0.0
    version: str | None = None
    datapoints: list[float | None] = field(default_factory=list)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def percentile_of(statistic: str) -> float | None:
    """99.0 for "p99", 99.9 for "p99.9", None for a non-percentile statistic."""
    if statistic[:1].lower() != "p":
        return None
    try:
        return float(statistic[1:])
    except ValueError:
        return None


def is_low_sample(statistic: str, samples: int) -> bool:
    p = percentile_of(statistic)
    if p is None:
        return False
    fraction = p / 100.0
    needed = round(10.0 / (1.0 - fraction) if fraction >= 0.5 else 10.0 / max(fraction, 1e-9), 6)
    return samples < needed


def statistic_value(values: Sequence[float], statistic: str) -> float | None:
    if not values:
        return None
    p = percentile_of(statistic)
    if p is not None:
        return percentile(values, p)
    if statistic == "Sum":
        return float(sum(values))
    if statistic == "Average":
        return float(sum(values)) / len(values)
    if statistic == "Minimum":
        return float(min(values))
    if statistic == "Maximum":
        return float(max(values))
    if statistic == "SampleCount":
        return float(len(values))
    raise ValueError(f"unsupported statistic {statistic!r}")


def breaches(value: float, comparison: str, threshold: float) -> bool:
    if comparison == "GreaterThanThreshold":
        return value > threshold
    if comparison == "GreaterThanOrEqualToThreshold":
        return value >= threshold
    if comparison == "LessThanThreshold":
        return value < threshold
    if comparison == "LessThanOrEqualToThreshold":
        return value <= threshold
    raise ValueError(f"unknown comparison {comparison!r}")


def decide(classes: Sequence[str], datapoints_to_alarm: int, missing_data: str, current: State) -> State | None:
    """The next state from per-period classes ("B", "G", "-"); None keeps the current state."""
    if missing_data == "breaching":
        classes = ["B" if c == "-" else c for c in classes]
    elif missing_data == "notBreaching":
        classes = ["G" if c == "-" else c for c in classes]
    if sum(1 for c in classes if c == "B") >= datapoints_to_alarm:
        return "ALARM"
    if all(c == "-" for c in classes):
        return current if missing_data == "ignore" else "INSUFFICIENT_DATA"
    return "OK"


def _stamp(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%d/%m/%y %H:%M:%S")


class AlarmEvaluator:
    """Evaluates the model's alarms over a `MetricStore`, scoped to one function version."""

    def __init__(
        self,
        alarms: Sequence[AlarmModel],
        store: MetricStore,
        *,
        agent: str,
        environment: str,
        namespace: str = METRIC_NAMESPACE,
        evaluate_low_sample_count: LowSamplePolicy = "evaluate",
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.alarms = tuple(alarms)
        self._store = store
        self._dims = {"Agent": agent, "Environment": environment}
        self._namespace = namespace
        self._low_sample = evaluate_low_sample_count
        self._on_transition = on_transition
        self._lock = threading.RLock()
        self._status = {a.name: AlarmStatus(a.name) for a in self.alarms}
        self.version: str | None = None

    @property
    def tick_s(self) -> float:
        """How often to evaluate: every minute, or every period when periods are shorter."""
        return float(min([60, *(a.period_s for a in self.alarms)]))

    @property
    def longest_window_s(self) -> float:
        return float(max([0, *(a.window_s for a in self.alarms)]))

    def watch(self, version: str | None, at: float, *, reason: str | None = None) -> None:
        """Point every alarm at `version` (as a deploy updates the alarms' Version dimension).

        States restart at INSUFFICIENT_DATA, as CloudWatch does for an updated alarm.
        """
        with self._lock:
            if version == self.version:
                return
            self.version = version
            for status in self._status.values():
                status.state = "INSUFFICIENT_DATA"
                status.reason = reason or f"Alarm now watches version {version}"
                status.updated_at = at
                status.version = version
                status.datapoints = []

    def reset_states(self, alarms: Sequence[AlarmModel], at: float) -> None:
        """Use a new set of alarms (a deploy changed them); each starts at INSUFFICIENT_DATA."""
        with self._lock:
            self.alarms = tuple(alarms)
            self._status = {a.name: AlarmStatus(a.name, updated_at=at, version=self.version) for a in self.alarms}

    def status(self) -> list[AlarmStatus]:
        with self._lock:
            return [AlarmStatus(**vars(s)) for s in self._status.values()]

    def firing(self, names: Sequence[str] | None = None) -> list[AlarmStatus]:
        wanted = set(names) if names is not None else None
        return [s for s in self.status() if s.state == "ALARM" and (wanted is None or s.name in wanted)]

    def period_values(self, alarm: AlarmModel, at: float, version: str | None = None) -> list[PeriodValue]:
        """The last `evaluation_periods` complete periods before `at`, oldest first."""
        version = self.version if version is None else version
        period = float(alarm.period_s)
        end = math.floor(at / period) * period
        out: list[PeriodValue] = []
        for i in range(alarm.evaluation_periods, 0, -1):
            start = end - i * period
            out.append(self._period_value(alarm, version, start, start + period))
        return out

    def _key(self, metric: str, version: str | None) -> MetricKey:
        dims = dict(self._dims)
        if version is not None:
            dims["Version"] = version
        return MetricKey.of(self._namespace, metric, dims)

    def _period_value(self, alarm: AlarmModel, version: str | None, start: float, end: float) -> PeriodValue:
        if alarm.kind == "error_rate" or alarm.metric == "ErrorRate":
            invocations = self._store.values(self._key("Invocations", version), start, end)
            total = sum(invocations)
            if not invocations or total <= 0:
                return PeriodValue(start, None, 0)
            errors = sum(self._store.values(self._key("Errors", version), start, end))
            return PeriodValue(start, 100.0 * errors / total, int(total))
        values = self._store.values(self._key(alarm.metric, version), start, end)
        return PeriodValue(
            start, statistic_value(values, alarm.statistic), len(values), is_low_sample(alarm.statistic, len(values))
        )

    def evaluate_all(self, at: float) -> list[Transition]:
        if self.version is None:  # nothing deployed yet: nothing to watch
            return []
        transitions = [t for t in (self.evaluate(a, at) for a in self.alarms) if t is not None]
        return transitions

    def evaluate(self, alarm: AlarmModel, at: float) -> Transition | None:
        with self._lock:
            status = self._status[alarm.name]
            version = self.version
            periods = self.period_values(alarm, at, version)
            status.datapoints = [p.value for p in periods]
            if self._low_sample == "ignore" and any(p.low_sample for p in periods if p.value is not None):
                return None
            classes = [
                "-" if p.value is None else ("B" if breaches(p.value, alarm.comparison, alarm.threshold) else "G")
                for p in periods
            ]
            new = decide(classes, alarm.datapoints_to_alarm, alarm.missing_data, status.state)
            if new is None or new == status.state:
                return None
            reason = self._reason(alarm, periods, classes, new)
            transition = Transition(
                alarm=alarm.name, old=status.state, new=new, reason=reason, at=at, version=version,
                gates_rollout=alarm.gates_rollout, notify=alarm.notify, severity=alarm.severity,
            )
            status.state, status.reason, status.updated_at = new, reason, at
        if self._on_transition is not None:
            self._on_transition(transition)
        return transition

    def _reason(self, alarm: AlarmModel, periods: list[PeriodValue], classes: list[str], new: State) -> str:
        n = len(periods)
        if new == "INSUFFICIENT_DATA":
            return (f"Insufficient Data: {n} datapoint{'s were' if n != 1 else ' was'} unknown "
                    f"(treat missing data: {alarm.missing_data}).")
        present = [(p, c) for p, c in zip(periods, classes, strict=True) if p.value is not None]
        shown = ", ".join(f"{p.value:.6g} ({_stamp(p.start)})" for p, _ in reversed(present)) or "no datapoints"
        breaching = sum(1 for c in classes if c == "B")
        if alarm.missing_data == "breaching":
            breaching = sum(1 for c in classes if c in ("B", "-"))
        words = _COMPARISON_WORDS.get(alarm.comparison, alarm.comparison)
        low = " (fewer samples than a stable percentile needs)" if any(p.low_sample for p, _ in present) else ""
        if new == "ALARM":
            return (f"Threshold Crossed: {breaching} out of the last {n} datapoints [{shown}] "
                    f"{'was' if breaching == 1 else 'were'} {words} the threshold ({alarm.threshold:g}) "
                    f"(minimum {alarm.datapoints_to_alarm} datapoint{'s' if alarm.datapoints_to_alarm != 1 else ''} "
                    f"for OK -> ALARM transition){low}.")
        return (f"Threshold Crossed: {breaching} out of the last {n} datapoints [{shown}] "
                f"{'was' if breaching == 1 else 'were'} {words} the threshold ({alarm.threshold:g}); fewer than "
                f"{alarm.datapoints_to_alarm} needed for ALARM{low}.")

    def run(self, clock: Clock, stop: threading.Event, *, prune: Callable[[float], None] | None = None) -> None:
        """Evaluate every alarm at each tick boundary until `stop` is set."""
        tick = self.tick_s
        while not stop.is_set():
            now = clock.now()
            next_tick = (math.floor(now / tick) + 1) * tick
            if clock.wait(stop, next_tick - now + 0.001):
                return
            at = clock.now()
            self.evaluate_all(at)
            if prune is not None:
                prune(at)
