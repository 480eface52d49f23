"""Rollout schedules step by step, on a clock that only moves when the engine waits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from deployer.compiled import RolloutStep
from deployer.compiler import compile_environment
from deployer.local.clock import ManualClock
from deployer.local.drill import strategy_steps
from deployer.local.rollout import RolloutEngine, RolloutState, weights_for
from deployer.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0


class Harness:
    def __init__(self, steps, *, rate: float = 1.0, firing_after: float | None = None, watch_s: float = 120.0,
                 min_requests: int = 50, abort_at: float | None = None) -> None:
        self.clock = ManualClock(T0)
        self.weights: list[tuple[float, str, dict[str, float]]] = []
        self.rate = rate
        self.firing_after = firing_after
        self.abort_at = abort_at
        state = RolloutEngine.plan("2", "1", tuple(RolloutStep(p, b) for p, b in steps), T0)
        self.engine = RolloutEngine(
            state, clock=self.clock, gating_alarms=("errors",), min_requests_per_step=min_requests,
            watch_s=watch_s, check_alarms=self.check, requests_served=self.served,
            apply_weights=lambda p, a: self.weights.append((self.clock.now() - T0, p, a)),
            on_change=lambda s, e: None, slice_s=10.0,
        )

    def check(self, at: float) -> list[tuple[str, str]]:
        if self.firing_after is not None and at - T0 >= self.firing_after:
            return [("errors", "error rate 30 %")]
        return []

    def served(self, version: str) -> int:
        now = self.clock.now() - T0
        if self.abort_at is not None and now >= self.abort_at:
            self.engine.abort("alarm errors in ALARM")
        return int(now * self.rate)

    def run(self) -> RolloutState:
        return self.engine.run()


def test_steps_schedule_shifts_weights_on_time_and_completes_after_the_watch():
    h = Harness([(5, 300), (50, 300), (100, 0)])
    state = h.run()
    assert state.status == "succeeded"
    assert h.weights == [(0.0, "1", {"2": 0.05}), (300.0, "1", {"2": 0.5}), (600.0, "2", {})]
    assert state.finished_at == pytest.approx(T0 + 720.0)  # 120 s watch after the 100 % step
    assert [e["kind"] for e in state.events] == ["start", "shift", "shift", "shift", "complete"]


@pytest.mark.parametrize(("strategy", "expected"), [
    ("canary", [(0.0, "1", {"2": 0.1}), (300.0, "2", {})]),
    ("linear", [(0.0, "1", {"2": 0.25}), (300.0, "1", {"2": 0.5}), (600.0, "1", {"2": 0.75}), (900.0, "2", {})]),
    ("steps", [(0.0, "1", {"2": 0.05}), (300.0, "1", {"2": 0.5}), (600.0, "2", {})]),
    ("all_at_once", [(0.0, "2", {})]),
])
def test_each_strategy_schedule(strategy, expected):
    model = compile_environment(load_spec(ROOT / "agent.yaml"), "local")
    steps = strategy_steps(model, strategy)
    h = Harness([(s.percent, s.bake_s) for s in steps])
    assert h.run().status == "succeeded"
    assert h.weights == expected


def test_a_firing_alarm_before_a_step_rolls_back_to_stable():
    h = Harness([(5, 300), (50, 300), (100, 0)], firing_after=250)
    state = h.run()
    assert state.status == "rolled_back"
    assert h.weights[-1] == (300.0, "1", {})  # never reached 50 %
    assert "before step 2" in (state.reason or "") and "errors" in (state.reason or "")


def test_an_alarm_during_the_bake_rolls_back_at_once():
    h = Harness([(10, 300), (100, 0)], abort_at=95)
    state = h.run()
    assert state.status == "rolled_back"
    assert h.weights == [(0.0, "1", {"2": 0.1}), (100.0, "1", {})]  # at the next 10 s slice
    assert state.reason == "alarm errors in ALARM"


def test_all_at_once_still_rolls_back_during_the_final_watch():
    h = Harness([(100, 0)], firing_after=60, abort_at=60)
    state = h.run()
    assert state.status == "rolled_back"
    assert h.weights == [(0.0, "2", {}), (60.0, "1", {})]


def test_a_step_waits_for_min_requests_then_proceeds():
    h = Harness([(5, 300), (100, 0)], rate=0.1)  # 50 requests take 500 s
    state = h.run()
    assert state.status == "succeeded"
    assert h.weights[1] == (500.0, "2", {})
    assert any(e["kind"] == "hold" for e in state.events)


def test_a_step_without_enough_traffic_rolls_back_instead_of_promoting():
    h = Harness([(5, 300), (100, 0)], rate=0.01)  # 50 requests would take 5000 s
    state = h.run()
    assert state.status == "rolled_back"
    assert h.weights[-1] == (1200.0, "1", {})  # held 4 x the bake
    assert "only 12 of 50 requests" in (state.reason or "")


def test_halt_leaves_the_rollout_unfinished_without_touching_the_alias():
    h = Harness([(5, 300), (100, 0)])
    h.engine.halt()
    state = h.run()
    assert state.status == "in_progress"
    assert h.weights == []


def test_weights_for_never_returns_a_half_shifted_alias_for_0_or_100():
    state = RolloutEngine.plan("2", "1", (RolloutStep(5, 60), RolloutStep(100, 0)), T0)
    assert weights_for(state, 0) == ("1", {})
    assert weights_for(state, 100) == ("2", {})
    assert weights_for(replace(state, stable_version=None), 5) == ("2", {})


def test_state_round_trips_through_json():
    import json

    state = RolloutEngine.plan("2", "1", (RolloutStep(5, 60), RolloutStep(100, 0)), T0)
    again = RolloutState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
