"""Alarm evaluation with CloudWatch semantics, because moto never evaluates alarms.

For each alarm and evaluation time T the evaluator reads the *evaluation range*: the last
`evaluation_periods + 2` complete periods before T (periods aligned to multiples of `period_s`).
CloudWatch reads more periods than N = `evaluation_periods` and does not publish how many; its only
worked example reads 5 for N = 3, hence N + 2. Each period gives one datapoint, classified as
breaching (B), not breaching (G) or missing (-). Then, as the CloudWatch User Guide describes
("How alarm state is evaluated when data is missing", with M = `datapoints_to_alarm`):

- at least N real datapoints in the range: the N most recent real ones are evaluated (gaps skipped,
  the missing-data treatment is not needed); ALARM when M of them breach, otherwise OK.
- fewer than N (K real ones): every real datapoint in the range counts and N - K are filled in,
  as breaching for `breaching` and not breaching for `notBreaching`; `missing` and `ignore` fill
  nothing and judge the K real ones: ALARM when M breach, OK when one of them does not breach.
- premature transitions: when every real datapoint breaches but fewer than M do, `missing` goes to
  ALARM only once the oldest of them is M periods old with nothing but gaps since (`- - X - -` for
  3 of 3); before that (`- - - - X`, `- - - X -`), and always for `ignore`, the state is kept. The
  guide only says such an alarm does not go to ALARM yet; keeping the state is this module's
  choice (a breaching datapoint never takes an alarm out of ALARM).
- no real datapoint in the range: INSUFFICIENT_DATA for `missing`, the current state for `ignore`,
  ALARM for `breaching`, OK for `notBreaching`.
- a breach is re-evaluated until it leaves the range: after the last datapoint an alarm can stay in
  ALARM for up to two more periods than its window, as CloudWatch's can.
- statistics: Sum, Average, Minimum, Maximum, SampleCount and percentiles (`p99`, `p99.9`) computed
  from the raw values (nearest rank). A percentile over fewer than 10/(1-p) samples (10/p below
  p50) is "low sample": with `evaluate_low_sample_count="evaluate"` (CloudWatch's default) it is
  evaluated anyway; with "ignore" the alarm keeps its state while an evaluated datapoint has too few.
- error rate is metric math `100 * Errors / Invocations` (both Sum) per period; a period without
  invocations is missing, a period with invocations and no Errors datapoint counts 0 errors.

The evaluator reads raw datapoints as far back as `longest_history_s`: the metric store must keep
at least that much.

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
from deployer.local.behaviour.clock import Clock
from deployer.local.behaviour.metrics import MetricKey, MetricStore

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


#: Periods read beyond `evaluation_periods`. AWS does not publish the size of the evaluation range
#: (awsdocs/amazon-cloudwatch-user-guide#102); its worked examples read 5 periods for 3.
EXTRA_RANGE_PERIODS = 2


def evaluation_range(alarm: AlarmModel) -> int:
    """How many periods the alarm reads at each evaluation (its evaluation range)."""
    return alarm.evaluation_periods + EXTRA_RANGE_PERIODS


@dataclass(frozen=True)
class Assessment:
    """What one evaluation decided, and from which datapoints."""

    state: State  # the next state; the current one when it holds
    evaluated: tuple[int, ...]  # indices into the range of the real datapoints judged, oldest first
    filled: int  # missing periods filled in by the treatment (`breaching` / `notBreaching`)
    breaching: int  # breaching datapoints among the judged and the filled ones
    premature: bool = False  # ALARM from breaches followed only by gaps, fewer than M


def assess(classes: Sequence[str], datapoints_to_alarm: int, missing_data: str, current: State, *,
           evaluation_periods: int | None = None) -> Assessment:
    """Judge an evaluation range of classes ("B", "G", "-"), oldest first (see the module docstring).

    `evaluation_periods` defaults to `len(classes)`: a range with no periods beyond N.
    """
    n = len(classes) if evaluation_periods is None else evaluation_periods
    m = datapoints_to_alarm
    real = [i for i, c in enumerate(classes) if c != "-"]
    used = tuple(real[-n:])
    bad = sum(1 for i in used if classes[i] == "B")
    if len(used) >= n:  # enough real datapoints: the treatment is not needed
        return Assessment("ALARM" if bad >= m else "OK", used, 0, bad)
    fill = n - len(used)
    if missing_data == "breaching":
        return Assessment("ALARM" if bad + fill >= m else "OK", used, fill, bad + fill)
    if missing_data == "notBreaching":
        return Assessment("ALARM" if bad >= m else "OK", used, fill, bad)
    if not used:  # missing / ignore with nothing real in the range
        return Assessment(current if missing_data == "ignore" else "INSUFFICIENT_DATA", used, 0, 0)
    if bad >= m:
        return Assessment("ALARM", used, 0, bad)
    if bad < len(used):  # a real datapoint within the threshold
        return Assessment("OK", used, 0, bad)
    oldest_age = len(classes) - used[0]  # the newest period is 1 period old
    if missing_data == "missing" and oldest_age >= m:
        return Assessment("ALARM", used, 0, bad, premature=True)
    return Assessment(current, used, 0, bad)  # too early to tell, or `ignore`: hold


def decide(classes: Sequence[str], datapoints_to_alarm: int, missing_data: str, current: State, *,
           evaluation_periods: int | None = None) -> State:
    """The next state (the current one when it holds) of an evaluation range of classes."""
    return assess(classes, datapoints_to_alarm, missing_data, current, evaluation_periods=evaluation_periods).state


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
        evaluate_low_sample_count: LowSamplePolicy | None = None,
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
        self.evaluated_at = 0.0  # the time of the latest evaluation of every alarm

    @property
    def tick_s(self) -> float:
        """How often to evaluate: every minute, or every period when periods are shorter."""
        return float(min([60, *(a.period_s for a in self.alarms)]))

    @property
    def longest_window_s(self) -> float:
        return float(max([0, *(a.window_s for a in self.alarms)]))

    @property
    def longest_history_s(self) -> float:
        """How far back an evaluation reads raw datapoints: the evaluation range and the period under way."""
        return float(max([0, *((evaluation_range(a) + 1) * a.period_s for a in self.alarms)]))

    def watch(self, version: str | None, at: float, *, reason: str | None = None) -> None:
        """Point the version-scoped alarms at `version` (as a deploy updates their Version dimension).

        Their states restart at INSUFFICIENT_DATA, as CloudWatch does for an updated alarm. The
        service-scoped ones watch every version and are not touched.
        """
        with self._lock:
            if version == self.version:
                return
            self.version = version
            scoped = {a.name for a in self.alarms if a.scope == "version"}
            for status in self._status.values():
                if status.name not in scoped:
                    continue
                status.state = "INSUFFICIENT_DATA"
                status.reason = reason or f"Alarm now watches version {version}"
                status.updated_at = at
                status.version = version
                status.datapoints = []

    def reset_states(self, alarms: Sequence[AlarmModel], at: float) -> None:
        """Use a new set of alarms (a deploy changed them); each starts at INSUFFICIENT_DATA."""
        with self._lock:
            self.alarms = tuple(alarms)
            self._status = {a.name: AlarmStatus(a.name, updated_at=at, version=self._scoped(a, self.version))
                            for a in self.alarms}

    @staticmethod
    def _scoped(alarm: AlarmModel, version: str | None) -> str | None:
        """The version an alarm's metrics are read for: None (every version) for a service alarm."""
        return version if alarm.scope == "version" else None

    def status(self) -> list[AlarmStatus]:
        with self._lock:
            return [AlarmStatus(**vars(s)) for s in self._status.values()]

    def firing(self, names: Sequence[str] | None = None) -> list[AlarmStatus]:
        wanted = set(names) if names is not None else None
        return [s for s in self.status() if s.state == "ALARM" and (wanted is None or s.name in wanted)]

    def period_values(self, alarm: AlarmModel, at: float, version: str | None = None, *,
                      periods: int | None = None) -> list[PeriodValue]:
        """The last `periods` (default `evaluation_periods`) complete periods before `at`, oldest first."""
        version = self.version if version is None else version
        period = float(alarm.period_s)
        end = math.floor(at / period) * period
        out: list[PeriodValue] = []
        for i in range(alarm.evaluation_periods if periods is None else periods, 0, -1):
            start = end - i * period
            out.append(self._period_value(alarm, version, start, start + period))
        return out

    def _key(self, metric: str, version: str | None) -> MetricKey:
        dims = dict(self._dims)
        if version is not None:
            dims["Version"] = version
        return MetricKey.of(self._namespace, metric, dims)

    def _period_value(self, alarm: AlarmModel, version: str | None, start: float, end: float) -> PeriodValue:
        version = self._scoped(alarm, version)
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
        self.evaluated_at = max(self.evaluated_at, at)
        return transitions

    def evaluate(self, alarm: AlarmModel, at: float) -> Transition | None:
        with self._lock:
            status = self._status[alarm.name]
            version = self._scoped(alarm, self.version)
            periods = self.period_values(alarm, at, version, periods=evaluation_range(alarm))
            status.datapoints = [p.value for p in periods[-alarm.evaluation_periods:]]
            classes = [
                "-" if p.value is None else ("B" if breaches(p.value, alarm.comparison, alarm.threshold) else "G")
                for p in periods
            ]
            verdict = assess(classes, alarm.datapoints_to_alarm, alarm.missing_data, status.state,
                             evaluation_periods=alarm.evaluation_periods)
            low_sample = self._low_sample or alarm.low_sample
            if low_sample == "ignore" and any(periods[i].low_sample for i in verdict.evaluated):
                return None
            if verdict.state == status.state:
                return None
            reason = self._reason(alarm, periods, verdict)
            transition = Transition(
                alarm=alarm.name, old=status.state, new=verdict.state, reason=reason, at=at, version=version,
                gates_rollout=alarm.gates_rollout, notify=alarm.notify, severity=alarm.severity,
            )
            status.state, status.reason, status.updated_at = verdict.state, reason, at
        if self._on_transition is not None:
            self._on_transition(transition)
        return transition

    def _reason(self, alarm: AlarmModel, periods: list[PeriodValue], verdict: Assessment) -> str:
        n = len(periods)
        if verdict.state == "INSUFFICIENT_DATA":
            return (f"Insufficient Data: {n} datapoint{'s were' if n != 1 else ' was'} unknown "
                    f"(treat missing data: {alarm.missing_data}).")
        judged = [periods[i] for i in verdict.evaluated]
        shown = ", ".join(f"{p.value:.6g} ({_stamp(p.start)})" for p in reversed(judged)) or "no datapoints"
        if verdict.filled:
            treated = "breaching" if alarm.missing_data == "breaching" else "not breaching"
            shown += f"; {verdict.filled} missing treated as {treated}"
        count, bad, m = len(judged) + verdict.filled, verdict.breaching, alarm.datapoints_to_alarm
        words = _COMPARISON_WORDS.get(alarm.comparison, alarm.comparison)
        low = " (fewer samples than a stable percentile needs)" if any(p.low_sample for p in judged) else ""
        crossed = (f"Threshold Crossed: {bad} out of the last {count} datapoint{'s' if count != 1 else ''} "
                   f"[{shown}] {'was' if bad == 1 else 'were'} {words} the threshold ({alarm.threshold:g})")
        if verdict.state == "OK":
            return f"{crossed}; fewer than {m} needed for ALARM{low}."
        premature = ""
        if verdict.premature:
            age = n - verdict.evaluated[0]
            premature = f", the oldest {age} periods old with only missing data since"
        return (f"{crossed}{premature} (minimum {m} datapoint{'s' if m != 1 else ''} "
                f"for OK -> ALARM transition){low}.")

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
