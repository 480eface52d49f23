"""The rollout engine: the compiled `RolloutModel` on the emulator's clock, gated by alarms.

It runs the same loop as the Step Functions state machine (`infra.state_machine`), reading the
same numbers, so that a scenario gives the same weights and the same verdict in both (the
parity tests prove it):

1. A step shifts the alias: `percent` of traffic to the new version through
   `AdditionalVersionWeights`, the rest on the stable version (100 % makes it the alias's version).
2. Then, every `check_interval_s`: a gating alarm in ALARM rolls back at once (the emulator also
   interrupts the wait when an alarm fires); past `max_duration_s` since the start it rolls back;
   a step below 100 % moves on once its bake is over and the evidence is in (`evidence`), and
   rolls back when the evidence is not in by its hold limit ("not enough evidence"); the 100 %
   step holds `watch_s` (an alarm then still rolls it back) and the rollout succeeds.

Rolling back always means one thing: the alias serves the stable version alone. Every exit path
sets the final weights.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from deployer.compiled import RolloutModel, RolloutStep
from deployer.evaluation.online import VersionSignals, quality_drop
from deployer.local.behaviour.clock import Clock

Status = Literal["in_progress", "succeeded", "rolled_back", "interrupted"]
TERMINAL = ("succeeded", "rolled_back")
#: (period start, requests completed) of the new version, per `RolloutStep.metric_period_s`.
Traffic = Sequence[tuple[float, float]]


@dataclass
class RolloutState:
    version: str
    stable_version: str | None
    steps: list[tuple[float, int]]  # (percent, bake_s)
    started_at: float
    deployment_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: Status = "in_progress"
    step_index: int = -1
    percent: float = 0.0
    step_started_at: float | None = None
    finished_at: float | None = None
    reason: str | None = None
    trigger: str | None = None  # why it ended: alarm, evidence, deadline, manual
    requests_in_step: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["steps"] = [(float(p), int(b)) for p, b in data.get("steps", [])]
        return cls(**data)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    def describe_step(self) -> str:
        if self.step_index < 0:
            return "not started"
        return f"step {self.step_index + 1}/{len(self.steps)} ({self.percent:g} %)"


def weights_for(state: RolloutState, percent: float) -> tuple[str, dict[str, float]]:
    """Alias routing for `percent` % on the new version: (primary version, additional weights)."""
    if percent >= 100 or state.stable_version is None:
        return state.version, {}
    if percent <= 0:
        return state.stable_version, {}
    return state.stable_version, {state.version: round(percent / 100.0, 6)}


def align_up(t: float, period: int) -> float:
    return math.ceil(t / period) * period


@dataclass(frozen=True)
class Evidence:
    """What a step has shown so far (see `evidence`)."""

    served: int
    needed: int
    missing_windows: tuple[str, ...]  # "1m window for abort-error-rate" still without evaluated data

    @property
    def complete(self) -> bool:
        return self.served >= self.needed and not self.missing_windows

    def describe(self) -> str:
        parts = [f"{self.served} of {self.needed} requests"]
        if self.missing_windows:
            parts.append("no evaluated window with its data yet for " + "; ".join(self.missing_windows))
        return ", ".join(parts)


def traffic_start(step: RolloutStep, shift_at: float) -> float:
    """Requests count from the first whole period after the shift (never the previous step's)."""
    return align_up(shift_at, step.metric_period_s)


def evidence(policy: RolloutModel, step: RolloutStep, shift_at: float, now: float, traffic: Traffic) -> Evidence:
    """The evidence rule, in seconds; the state machine evaluates the same formula in JSONata.

    `traffic` holds the new version's requests per `step.metric_period_s` period from
    `traffic_start(step, shift_at)` to `now`. An evidence window (period P, window W) is in when
    its first full window that starts after the shift and holds data has been evaluated:
    `now >= max(S + W, floor((t0 + G - 1) / P) * P + P) + evaluation_delay_s`, with S the first
    period boundary after the shift, t0 the first period of traffic at or after S and G the
    traffic query's period.
    """
    served = round(sum(count for _, count in traffic))
    missing = []
    for window in policy.evidence:
        start = align_up(shift_at, window.period_s)
        first = next((t for t, count in traffic if t >= start and count > 0), None)
        ready = None if first is None else max(
            start + window.window_s,
            math.floor((first + step.metric_period_s - 1) / window.period_s) * window.period_s + window.period_s,
        ) + policy.evaluation_delay_s
        if ready is None or now < ready:
            missing.append(f"{window.window_s // 60}m window for {', '.join(window.alarms)}")
    return Evidence(served, step.min_requests, tuple(missing))


class RolloutEngine:
    """Runs one `RolloutState` to a terminal state (`run` blocks; `abort` may come from any thread)."""

    def __init__(
        self,
        state: RolloutState,
        policy: RolloutModel,
        *,
        clock: Clock,
        check_alarms: Callable[[float], list[tuple[str, str]]],
        traffic: Callable[[str, float, float, int], Traffic],
        apply_weights: Callable[[str, dict[str, float]], None],
        on_change: Callable[[RolloutState, dict[str, Any]], None],
        signals: Callable[[str, float, float], VersionSignals] | None = None,
    ) -> None:
        self.state = state
        self._signals = signals
        self.policy = policy
        self._clock = clock
        self._gating = frozenset(policy.gating_alarms)
        self._check = check_alarms
        self._traffic = traffic
        self._apply = apply_weights
        self._on_change = on_change
        self._abort = threading.Event()
        self._halted = False
        self._abort_reason: str | None = None
        self._abort_kind = "alarm"
        self._lock = threading.Lock()

    @classmethod
    def plan(cls, version: str, stable: str | None, steps: Sequence[RolloutStep], at: float) -> RolloutState:
        return RolloutState(version=version, stable_version=stable,
                            steps=[(float(s.percent), int(s.bake_s)) for s in steps], started_at=at)

    def abort(self, reason: str, *, kind: str = "alarm") -> None:
        with self._lock:
            if self._abort_reason is None:
                self._abort_reason, self._abort_kind = reason, kind
        self._abort.set()

    def halt(self) -> None:
        """Stop without touching the alias (emulator shutdown): the state stays `in_progress`."""
        self._halted = True
        self._abort.set()

    @property
    def halted(self) -> bool:
        return self._halted

    def wait_abort(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` real seconds for an abort or a halt; True when one came."""
        return self._abort.wait(timeout_s)

    def _event(self, kind: str, message: str, at: float | None = None, **extra: Any) -> None:
        event = {"at": self._clock.now() if at is None else at, "kind": kind, "message": message,
                 "version": self.state.version, **extra}
        self.state.events.append(event)
        self._on_change(self.state, event)

    def _rollback(self, reason: str, kind: str) -> RolloutState:
        s = self.state
        if self._halted:
            return s
        stable = s.stable_version or s.version
        at = self._clock.now()
        self._apply(stable, {})
        s.status, s.percent, s.reason, s.trigger, s.finished_at = "rolled_back", 0.0, reason, kind, at
        self._event("rollback", f"rolled back: all traffic on version {stable}; {reason}", at=at, trigger=kind,
                    stable_version=stable)
        return s

    def _gate(self) -> str | None:
        firing = [(name, why) for name, why in self._check(self._clock.now()) if name in self._gating]
        return "; ".join(f"alarm {name} in ALARM ({why})" for name, why in firing) or None

    def run(self) -> RolloutState:
        s = self.state
        if s.done:
            return s
        if s.step_index < 0:
            self._event("start", f"rollout of version {s.version} started over {len(s.steps)} step(s): "
                        + " -> ".join(f"{p:g} %" for p, _ in s.steps), stable_version=s.stable_version)
        else:  # run again after an error or a restart: from the step it was at, its bake from now
            self._event("resume", f"rollout of version {s.version} goes on from {s.describe_step()}",
                        stable_version=s.stable_version)
        deadline = s.started_at + self.policy.max_duration_s if self.policy.max_duration_s else math.inf
        for index in range(max(0, s.step_index), len(self.policy.steps)):
            step = self.policy.steps[index]
            if self._abort.is_set():
                return s if self._halted else self._rollback(self._abort_reason or "aborted", self._abort_kind)
            primary, additional = weights_for(s, step.percent)
            at = self._clock.now()
            self._apply(primary, additional)
            s.step_index, s.percent, s.step_started_at, s.requests_in_step = index, step.percent, at, 0
            self._event("shift", f"step {index + 1}/{len(s.steps)}: {step.percent:g} % of traffic on version {s.version}",
                        at=at, percent=step.percent, weights={primary: 1.0 - sum(additional.values()), **additional})
            outcome = self._hold(index, step, at, deadline)
            if outcome is not None:
                return outcome
        s.status, s.finished_at, s.reason = "succeeded", self._clock.now(), None
        self._event("complete", f"version {s.version} is stable at 100 %", percent=100.0)
        return s

    def _hold(self, index: int, step: RolloutStep, shift_at: float, deadline: float) -> RolloutState | None:
        """Check every `check_interval_s` until the step may move on (None) or the rollout ended."""
        s, policy = self.state, self.policy
        final = index == len(policy.steps) - 1
        waiting_logged = False
        while True:
            if self._clock.wait(self._abort, policy.check_interval_s) or self._abort.is_set():
                return self._rollback(self._abort_reason or "aborted", self._abort_kind)
            blocked = self._gate()
            if blocked:
                return self._rollback(f"step {index + 1} ({step.percent:g} %): {blocked}", "alarm")
            now = self._clock.now()
            if now >= deadline:
                return self._rollback(f"the rollout ran past its limit of {policy.max_duration_s} s", "deadline")
            elapsed = now - shift_at
            if final:
                if elapsed >= policy.watch_s:
                    return None
                continue
            start = traffic_start(step, shift_at)
            worse = self._quality(start, now)
            if worse:
                return self._rollback(f"step {index + 1} ({step.percent:g} %): quality: {worse}", "quality")
            shown = evidence(policy, step, shift_at, now, self._traffic(s.version, start, now, step.metric_period_s))
            s.requests_in_step = shown.served
            if elapsed >= step.bake_s and shown.complete:
                return None
            if elapsed >= step.hold_limit_s:
                return self._rollback(f"step {index + 1} ({step.percent:g} %): not enough evidence: {shown.describe()} "
                                      f"within the hold limit of {step.hold_limit_s} s; not promoting an untried "
                                      f"version", "evidence")
            if elapsed >= step.bake_s and not waiting_logged:
                waiting_logged = True
                self._event("hold", f"step {index + 1}: bake over, waiting for evidence ({shown.describe()})")

    def _quality(self, start: float, now: float) -> str | None:
        """The online quality gate over the step so far: the candidate's answers against stable's."""
        gate, s = self.policy.quality, self.state
        if gate is None or self._signals is None or s.stable_version is None:
            return None
        return quality_drop(gate, self._signals(s.stable_version, start, now), self._signals(s.version, start, now),
                            stable_version=s.stable_version, candidate_version=s.version)
