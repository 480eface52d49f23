"""The synthesized Step Functions rollout, executed in moto's interpreter against moto's Lambda
alias, CloudWatch alarms and metrics, and SNS, on a discrete-event clock (time moves only while the
execution waits, so a 5-minute bake costs no real time and a busy machine changes no timing). Each scenario asserts the alias weights over time, the final routing, the outcome
and the notification, and that the emulator's rollout engine, driven through the same scenario,
shifts the same weights to the same verdict (parity)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from deployer.compiled import DeploymentModel
from tests.helpers.stepfunctions_moto import SteppedClock, stepfunctions_in_moto
from tests.stepfunctions.scenarios import (
    CANDIDATE,
    SCENARIOS,
    STABLE,
    T0,
    TICK_S,
    Scenario,
    run_emulator_engine,
    run_state_machine,
)

Stack = tuple[DeploymentModel, dict[str, Any]]

_RUNS: dict[str, Any] = {}


def execute(rollout_stack: Stack, scenario: Scenario) -> Any:
    """(outcome, final alias weights, interpreter calls) of one scenario; each executes once per session."""
    if scenario.name in _RUNS:
        return _RUNS[scenario.name]
    model, template = rollout_stack
    started = time.monotonic()
    with stepfunctions_in_moto(clock=SteppedClock(start=T0)) as harness:
        outcome = run_state_machine(harness, template, model, scenario)
        final = harness.alias_weights(model.function.name)
        calls = harness.calls
    print(f"{scenario.name}: {outcome.verdict} ({outcome.trigger}) weights {outcome.percents} at "
          f"{[round(t) for t in outcome.times]} s emulated, {time.monotonic() - started:.2f} s wall; {outcome.reason}")
    _RUNS[scenario.name] = outcome, final, calls
    return _RUNS[scenario.name]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_executed_rollout_and_the_emulator_engine_agree(rollout_stack: Stack, scenario: Scenario) -> None:
    model, _ = rollout_stack
    outcome, final, _ = execute(rollout_stack, scenario)
    emulated = run_emulator_engine(model, scenario)
    assert (emulated.percents, emulated.verdict, emulated.trigger) == (outcome.percents, outcome.verdict,
                                                                       outcome.trigger), (emulated, outcome)
    # and when: both decide at the same checks (only Retry back-offs, with their jitter, move the
    # executed machine's checks; the clock is a discrete-event one, so the machine's load does not)
    slack = TICK_S if not (scenario.faults or scenario.rollback_faults) else model.rollout.check_interval_s + 30
    assert len(emulated.times) == len(outcome.times)
    for ours, theirs in zip(emulated.times, outcome.times, strict=True):
        assert abs(ours - theirs) <= slack, (emulated.times, outcome.times)
    assert outcome.percents == list(scenario.expected_percents), outcome
    assert outcome.verdict == scenario.expected_verdict, outcome
    assert outcome.trigger == scenario.expected_trigger, outcome
    if scenario.expected_verdict == "succeeded":
        assert final == {CANDIDATE: 1.0}
        assert outcome.notifications == ["canary-agent-staging: rollout completed"]
    else:
        assert final == {STABLE: 1.0}  # rolled back means one thing: the stable version alone
        assert outcome.notifications == ["canary-agent-staging: rollout rolled back"]
    # no step moves on before its bake: the shifts come at least a bake apart
    bakes = [s.bake_s for s in model.rollout.steps]
    for before, after, bake in zip(outcome.times, outcome.times[1:], bakes, strict=False):
        if after is not None and outcome.percents[outcome.times.index(after)] > 0:
            assert after - before >= bake


def test_no_datapoints_yet_is_not_a_failure_and_not_evidence(rollout_stack: Stack) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "no datapoints yet")
    outcome, _, calls = execute(rollout_stack, scenario)
    assert outcome.verdict == "succeeded"
    # the first step waited for traffic (420 s without any) plus its evidence window, past its 300 s bake
    assert outcome.times[1] - outcome.times[0] >= scenario.traffic_after_s + 60
    assert not [c for c in calls if c.error]


def test_throttled_calls_are_retried_and_the_rollout_goes_on(rollout_stack: Stack) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "throttles that recover")
    _, _, calls = execute(rollout_stack, scenario)
    failed = [(c.operation, c.error) for c in calls if c.error]
    assert failed.count(("UpdateAlias", "TooManyRequestsException")) == 2
    assert failed.count(("DescribeAlarms", "TooManyRequestsException")) == 2


def test_a_rollback_that_fails_twice_is_retried_until_the_alias_is_restored(rollout_stack: Stack) -> None:
    scenario = next(s for s in SCENARIOS if s.name == "a rollback that fails twice")
    _, final, calls = execute(rollout_stack, scenario)
    updates = [c for c in calls if c.operation == "UpdateAlias"]
    assert [c.error for c in updates[-3:]] == ["TooManyRequestsException", "TooManyRequestsException", None]
    assert updates[-1].params["FunctionVersion"] == STABLE and final == {STABLE: 1.0}


def test_a_rollback_that_keeps_failing_ends_as_rollback_failed_and_says_so(rollout_stack: Stack) -> None:
    model, template = rollout_stack
    scenario = Scenario("rollback keeps failing", (5,), "failed", errors=lambda share: 0.3, rollback_faults=20)
    with stepfunctions_in_moto(clock=SteppedClock(start=T0)) as harness:
        outcome = run_state_machine(harness, template, model, scenario)
    assert outcome.verdict == "failed" and "could not restore the alias" in outcome.reason
    assert outcome.notifications == ["canary-agent-staging: rollout could not roll back"]
