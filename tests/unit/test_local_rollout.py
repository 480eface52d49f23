"""Rollout schedules step by step, on a clock that only moves when the engine waits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from deployer.compiled import AlarmModel, RolloutModel, RolloutStep
from deployer.compiler import compile_environment
from deployer.compiler.rollout import plan_rollout
from deployer.local.behaviour.clock import ManualClock
from deployer.local.behaviour.rollout import RolloutEngine, RolloutState, evidence, traffic_start, weights_for
from deployer.local.front.drill import strategy_steps
from deployer.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0


def gate(name: str = "errors", period_s: int = 60, evaluation_periods: int = 1) -> AlarmModel:
    return AlarmModel(name=name, kind="error_rate", source="abort", metric="ErrorRate", statistic="Sum",
                      comparison="GreaterThanThreshold", threshold=2.0, period_s=period_s,
                      evaluation_periods=evaluation_periods, datapoints_to_alarm=evaluation_periods,
                      missing_data="notBreaching", notify=(), gates_rollout=True, severity="critical", description="")


def policy(steps, *, min_requests: int = 50, alarms: tuple[AlarmModel, ...] = (gate(),)) -> RolloutModel:
    return plan_rollout(steps, alarms, min_requests=min_requests, strategy="steps", prefix="demo")


class Harness:
    """The engine on a manual clock; the new version gets `rate` requests a second from `traffic_from`."""

    def __init__(self, steps, *, rate: float = 1.0, firing_after: float | None = None, min_requests: int = 50,
                 abort_at: float | None = None, alarms: tuple[AlarmModel, ...] = (gate(),),
                 traffic_from: float = 0.0) -> None:
        self.clock = ManualClock(T0)
        self.weights: list[tuple[float, str, dict[str, float]]] = []
        self.rate = rate
        self.firing_after = firing_after
        self.abort_at = abort_at
        self.traffic_from = T0 + traffic_from
        self.policy = policy(steps, min_requests=min_requests, alarms=alarms)
        state = RolloutEngine.plan("2", "1", self.policy.steps, T0)
        self.engine = RolloutEngine(
            state, self.policy, clock=self.clock, check_alarms=self.check, traffic=self.traffic,
            apply_weights=lambda p, a: self.weights.append((self.clock.now() - T0, p, a)),
            on_change=lambda s, e: None,
        )

    def check(self, at: float) -> list[tuple[str, str]]:
        if self.abort_at is not None and at - T0 >= self.abort_at:
            self.engine.abort("alarm errors in ALARM")
        if self.firing_after is not None and at - T0 >= self.firing_after:
            return [("errors", "error rate 30 %")]
        return []

    def traffic(self, version: str, start: float, end: float, period: int) -> list[tuple[float, float]]:
        out = []
        t = start
        while t < end:
            begin = max(t, self.traffic_from)
            count = self.rate * max(0.0, min(t + period, end) - begin)
            if count > 0:
                out.append((t, count))
            t += period
        return out

    def run(self) -> RolloutState:
        return self.engine.run()


def test_steps_schedule_shifts_weights_once_bake_and_evidence_are_in_and_completes_after_the_watch():
    h = Harness([(5, 300), (50, 300), (100, 0)])
    state = h.run()
    assert state.status == "succeeded"
    assert h.weights == [(0.0, "1", {"2": 0.05}), (300.0, "1", {"2": 0.5}), (600.0, "2", {})]
    assert h.policy.watch_s == 180  # one 60 s window, then its evaluation 120 s later
    assert state.finished_at == pytest.approx(T0 + 780.0)
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


def test_a_firing_alarm_during_a_step_rolls_back_to_stable_at_the_next_check():
    h = Harness([(5, 300), (50, 300), (100, 0)], firing_after=250)
    state = h.run()
    assert state.status == "rolled_back" and state.trigger == "alarm"
    assert h.weights[-1] == (300.0, "1", {})  # the check at 300 s found it: never reached 50 %
    assert "step 1 (5 %)" in (state.reason or "") and "errors" in (state.reason or "")


def test_an_alarm_interrupts_the_wait_and_rolls_back_at_once():
    h = Harness([(10, 300), (100, 0)], abort_at=120)
    state = h.run()
    assert state.status == "rolled_back"
    assert h.weights == [(0.0, "1", {"2": 0.1}), (120.0, "1", {})]
    assert state.reason == "alarm errors in ALARM"


def test_all_at_once_still_rolls_back_during_the_final_watch():
    h = Harness([(100, 0)], firing_after=60)
    state = h.run()
    assert state.status == "rolled_back"
    assert h.weights == [(0.0, "2", {}), (60.0, "1", {})]


def test_a_step_waits_for_min_requests_then_proceeds():
    h = Harness([(5, 300), (100, 0)], rate=0.1)  # 50 requests take 500 s
    state = h.run()
    assert state.status == "succeeded"
    assert h.weights[1] == (540.0, "2", {})  # the first check with 50 requests counted
    assert any(e["kind"] == "hold" for e in state.events)


def test_a_step_waits_for_a_full_alarm_window_holding_new_version_data():
    # a 3 x 60 s window: the bake (60 s) is long over when the window [0, 180) is evaluated, at 180 + 120 s
    h = Harness([(5, 60), (100, 0)], rate=5, alarms=(gate(evaluation_periods=3),))
    assert h.run().status == "succeeded"
    assert h.weights[1] == (300.0, "2", {})


def test_a_window_counts_only_once_data_arrived_in_it():
    # no traffic for the first 10 minutes: the first window with data is [600, 660), evaluated at 780
    h = Harness([(5, 300), (100, 0)], rate=5, traffic_from=600)
    assert h.run().status == "succeeded"
    assert h.weights[1] == (780.0, "2", {})


def test_a_step_without_enough_traffic_rolls_back_saying_not_enough_evidence():
    h = Harness([(5, 300), (100, 0)], rate=0.01)  # 50 requests would take 5000 s
    state = h.run()
    assert state.status == "rolled_back" and state.trigger == "evidence"
    assert h.weights[-1] == (1200.0, "1", {})  # the hold limit: 300 s bake + 15 minutes
    assert "not enough evidence: 12 of 50 requests" in (state.reason or "")


def test_no_traffic_at_all_is_never_healthy():
    state = Harness([(5, 300), (100, 0)], rate=0.0).run()
    assert state.status == "rolled_back"
    assert "0 of 50 requests" in (state.reason or "") and "no evaluated window" in (state.reason or "")


def test_the_rollout_rolls_back_at_its_time_limit():
    h = Harness([(5, 300), (100, 0)])
    h.engine.policy = replace(h.policy, max_duration_s=200)
    state = h.run()
    assert (state.status, state.trigger) == ("rolled_back", "deadline")
    assert h.weights[-1] == (240.0, "1", {})


def test_evidence_formula_matches_its_worked_example():
    p = policy([(5, 300), (100, 0)], alarms=(gate(evaluation_periods=2),))
    step = p.steps[0]
    shift = T0 + 30  # mid-minute: requests count from T0 + 60
    traffic = [(T0 + 120, 4.0), (T0 + 180, 3.0)]
    assert traffic_start(step, shift) == T0 + 60
    early = evidence(p, step, shift, T0 + 299, traffic)
    # first window after the shift: [60, 180) starts at 60, holds data from 120; evaluated at 180 + 120
    assert (early.served, early.complete, early.missing_windows) == (7, False, ("2m window for errors",))
    assert evidence(p, step, shift, T0 + 300, traffic).missing_windows == ()


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
