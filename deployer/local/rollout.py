"""The rollout engine: the spec's step schedule on the emulator's clock, gated by alarms.

It does what CodeDeploy (canary, linear, all-at-once) or the Step Functions state machine (any
other step list) does in AWS:

1. Before every step, the gating alarms are evaluated; any in ALARM rolls back.
2. The step shifts the alias: `percent` of traffic to the new version through
   `AdditionalVersionWeights`, the rest on the stable version (100 % makes the new version primary).
3. The step holds for its bake. A gating alarm going to ALARM at any moment rolls back at once
   (`abort`). A step below 100 % also waits for `min_requests_per_step` requests on the new
   version; if they do not arrive within `max_hold_factor` x the bake (at least 10 minutes), the
   rollout rolls back rather than promote a version nobody tried.
4. After the 100 % step the engine keeps watching for `watch_s` (the longest gating alarm window
   plus one evaluation) before declaring success, so an all-at-once rollout can still roll back.

Rolling back always means one thing: the alias points at the stable version alone. The engine
never leaves a half-shifted alias behind: every exit path sets the final weights.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from deployer.compiled import RolloutStep
from deployer.local.clock import Clock

Status = Literal["in_progress", "succeeded", "rolled_back", "interrupted"]
TERMINAL = ("succeeded", "rolled_back")


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
    requests_in_step: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutState:
        data = dict(data)
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


class RolloutEngine:
    """Runs one `RolloutState` to a terminal state (`run` blocks; `abort` may come from any thread)."""

    def __init__(
        self,
        state: RolloutState,
        *,
        clock: Clock,
        gating_alarms: Sequence[str],
        min_requests_per_step: int,
        watch_s: float,
        check_alarms: Callable[[float], list[tuple[str, str]]],
        requests_served: Callable[[str], int],
        apply_weights: Callable[[str, dict[str, float]], None],
        on_change: Callable[[RolloutState, dict[str, Any]], None],
        slice_s: float = 10.0,
        max_hold_factor: float = 4.0,
    ) -> None:
        self.state = state
        self._clock = clock
        self._gating = tuple(gating_alarms)
        self._min_requests = min_requests_per_step
        self._watch_s = watch_s
        self._check = check_alarms
        self._served = requests_served
        self._apply = apply_weights
        self._on_change = on_change
        self._slice = slice_s
        self._hold_factor = max_hold_factor
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

    def _event(self, kind: str, message: str, at: float | None = None, **extra: Any) -> None:
        event = {"at": self._clock.now() if at is None else at, "kind": kind, "message": message, "version": self.state.version, **extra}
        self.state.events.append(event)
        self._on_change(self.state, event)

    def _rollback(self, reason: str, kind: str = "alarm") -> RolloutState:
        s = self.state
        if self._halted:
            return s
        stable = s.stable_version or s.version
        at = self._clock.now()
        self._apply(stable, {})
        s.status, s.percent, s.reason, s.finished_at = "rolled_back", 0.0, reason, at
        self._event("rollback", f"rolled back: all traffic on version {stable}; {reason}", at=at, trigger=kind,
                    stable_version=stable)
        return s

    def _gate(self) -> str | None:
        firing = self._check(self._clock.now())
        gating = [(name, why) for name, why in firing if name in self._gating]
        if not gating:
            return None
        return "; ".join(f"alarm {name} in ALARM ({why})" for name, why in gating)

    def run(self) -> RolloutState:
        s = self.state
        if s.done:
            return s
        self._event("start", f"rollout of version {s.version} started over {len(s.steps)} step(s): "
                    + " -> ".join(f"{p:g} %" for p, _ in s.steps), stable_version=s.stable_version)
        start_index = max(0, s.step_index)
        for index in range(start_index, len(s.steps)):
            percent, bake = s.steps[index]
            if self._abort.is_set():
                return self._rollback(self._abort_reason or "aborted", self._abort_kind)
            blocked = self._gate()
            if blocked:
                return self._rollback(f"before step {index + 1}: {blocked}")
            primary, additional = weights_for(s, percent)
            at = self._clock.now()
            self._apply(primary, additional)
            s.step_index, s.percent, s.step_started_at, s.requests_in_step = index, percent, at, 0
            self._event("shift", at=at, message= f"step {index + 1}/{len(s.steps)}: {percent:g} % of traffic on version {s.version}",
                        percent=percent, weights={primary: 1.0 - sum(additional.values()), **additional})
            final = index == len(s.steps) - 1
            hold = max(float(bake), self._watch_s) if final else float(bake)
            needed = self._min_requests if percent < 100 else 0
            outcome = self._hold(hold, needed, index)
            if outcome is not None:
                return outcome
        if self._abort.is_set():
            return self._rollback(self._abort_reason or "aborted", self._abort_kind)
        blocked = self._gate()
        if blocked:
            return self._rollback(f"after the last step: {blocked}")
        s.status, s.finished_at, s.reason = "succeeded", self._clock.now(), None
        self._event("complete", f"version {s.version} is stable at 100 %", percent=100.0)
        return s

    def _hold(self, bake: float, needed: int, index: int) -> RolloutState | None:
        s = self.state
        started = s.step_started_at or self._clock.now()
        baseline = self._served(s.version)
        cap = started + max(bake * self._hold_factor, bake + 600.0)
        waiting_logged = False
        while True:
            if self._abort.is_set():
                return self._rollback(self._abort_reason or "aborted", self._abort_kind)
            now = self._clock.now()
            s.requests_in_step = self._served(s.version) - baseline
            if now >= started + bake and s.requests_in_step >= needed:
                return None
            if now >= started + bake and not waiting_logged:
                waiting_logged = True
                self._event("hold", f"step {index + 1}: bake over but only {s.requests_in_step} of {needed} "
                            f"requests reached version {s.version}; holding")
            if now >= cap:
                return self._rollback(f"step {index + 1}: only {s.requests_in_step} of {needed} requests reached "
                                      f"version {s.version} in {now - started:.0f} s; not promoting an untried version",
                                      kind="traffic")
            remaining = started + bake - now
            self._clock.wait(self._abort, min(self._slice, remaining) if remaining > 0 else self._slice)
