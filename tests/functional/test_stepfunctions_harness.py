"""The Step Functions harness executes JSONata definitions in moto on an emulated clock.

A small rollout-shaped state machine (written here, not the project's) proves each piece: Wait and
$millis()/$now() on the clock, aws-sdk lambda:updateAlias / cloudwatch:describeAlarms /
cloudwatch:getMetricStatistics, sns:publish, Choice, Retry with back-off over injected throttles,
Catch of a permanent failure. The last tests resolve and create a definition synthesized by the
project's own CDK app (its behaviour is not asserted here).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.stepfunctions_moto import (
    DeployedStack,
    EmulatedClock,
    ExecutionTimeout,
    StepFunctionsHarness,
    SteppedClock,
    TemplateResolver,
    stepfunctions_in_moto,
)

FAKE_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1"}
START = 1_800_000_000.0
SDK = "arn:aws:states:::aws-sdk:"
GATING = ["agent-error-rate", "agent-latency"]


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAKE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def harness(fake_aws: None) -> Iterator[StepFunctionsHarness]:
    """A harness whose clock stands still while the interpreter works: every interval a test reads is
    exact on any machine, however busy (on a 600x wall clock a 0.2 s stall is 120 clock seconds)."""
    with stepfunctions_in_moto(clock=SteppedClock(start=START)) as h:
        yield h


def jsonata(states: dict[str, Any], start: str, **top: Any) -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", "StartAt": start, "States": states, **top}


def agent(h: StepFunctionsHarness) -> dict[str, str]:
    """Function `agent` with versions 1 (stable) and 2 (candidate), alias `live` on 1, two gating
    alarms, one topic: the input of the rollout machine."""
    lam, cw = h.client("lambda"), h.client("cloudwatch")
    import io
    import zipfile

    for version in ("1", "2"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("index.py", f"VERSION = {version}\n")
        if version == "1":
            lam.create_function(FunctionName="agent", Runtime="python3.12", Role=h.role_arn, Handler="index.handler",
                                Code={"ZipFile": buffer.getvalue()})
        else:
            lam.update_function_code(FunctionName="agent", ZipFile=buffer.getvalue())
        assert lam.publish_version(FunctionName="agent")["Version"] == version
    lam.create_alias(FunctionName="agent", Name="live", FunctionVersion="1")
    for name in GATING:
        cw.put_metric_alarm(AlarmName=name, ComparisonOperator="GreaterThanThreshold", EvaluationPeriods=1,
                            Threshold=1.0, MetricName="Errors", Namespace="Deployer", Period=60, Statistic="Sum")
    topic = h.client("sns").create_topic(Name="rollouts")["TopicArn"]
    return {"function": "agent", "alias": "live", "stable": "1", "candidate": "2", "topic": topic}


def update_alias(version: str, weights: str, next_: str) -> dict[str, Any]:
    return {"Type": "Task", "Resource": SDK + "lambda:updateAlias", "Next": next_,
            "Arguments": {"FunctionName": "{% $fn %}", "Name": "{% $alias %}", "FunctionVersion": version,
                          "RoutingConfig": {"AdditionalVersionWeights": weights}},
            "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "IntervalSeconds": 10, "BackoffRate": 2,
                       "MaxAttempts": 3}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "ShiftFailed", "Output": "{% $states.errorOutput %}"}]}


def publish(subject: str, next_: str) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Next": next_,
            "Arguments": {"TopicArn": "{% $topic %}", "Subject": subject,
                          "Message": "{% {'candidate': $candidate, 'served': $served, 'alarming': $alarming} %}"}}


ROLLOUT = jsonata({
    "Start": {"Type": "Pass", "Next": "Shift", "Assign": {
        "fn": "{% $states.input.function %}", "alias": "{% $states.input.alias %}",
        "stable": "{% $states.input.stable %}", "candidate": "{% $states.input.candidate %}",
        "topic": "{% $states.input.topic %}", "t0": "{% $millis() %}", "served": 0, "alarming": []}},
    "Shift": {**update_alias("{% $stable %}", "{% {$candidate: 0.1} %}", "Bake"),
              "Assign": {"shiftedAt": "{% $millis() %}"}},
    "Bake": {"Type": "Wait", "Seconds": 300, "Next": "Check"},
    "Check": {"Type": "Task", "Resource": SDK + "cloudwatch:describeAlarms", "Next": "Traffic",
              "Arguments": {"AlarmNames": GATING, "StateValue": "ALARM"},
              # moto ignores StateValue when AlarmNames is given: filter here too.
              "Assign": {"alarming": "{% [$states.result.MetricAlarms[StateValue = 'ALARM'].AlarmName] %}"}},
    "Traffic": {"Type": "Task", "Resource": SDK + "cloudwatch:getMetricStatistics", "Next": "Gate",
                "Arguments": {"Namespace": "Deployer", "MetricName": "Invocations",
                              "Dimensions": [{"Name": "Version", "Value": "{% $candidate %}"}],
                              "StartTime": "{% $fromMillis($shiftedAt - 60000) %}", "EndTime": "{% $now() %}",
                              "Period": 60, "Statistics": ["Sum"]},
                "Assign": {"served": "{% $sum([$states.result.Datapoints.Sum]) %}"}},
    "Gate": {"Type": "Choice", "Default": "Promote", "Choices": [
        {"Condition": "{% $count($alarming) > 0 %}", "Next": "Rollback",
         "Assign": {"reason": "{% 'gating alarm(s) in ALARM: ' & $join($alarming, ', ') %}"}},
        {"Condition": "{% $served < 10 %}", "Next": "Rollback",
         "Assign": {"reason": "{% 'only ' & $string($served) & ' requests' %}"}}]},
    "Promote": update_alias("{% $candidate %}", "{% {} %}", "NotifyDone"),
    "NotifyDone": publish("rollout completed", "Done"),
    "Done": {"Type": "Succeed", "Output": "{% {'served': $served, 'elapsedMs': $millis() - $t0} %}"},
    "Rollback": update_alias("{% $stable %}", "{% {} %}", "NotifyRollback"),
    "NotifyRollback": publish("rollout rolled back", "RolledBack"),
    "RolledBack": {"Type": "Fail", "Error": "RolloutRolledBack", "Cause": "{% $reason %}"},
    "ShiftFailed": {"Type": "Pass", "End": True, "Output": "{% {'caught': $states.input} %}"},
}, "Start", TimeoutSeconds=3600)


SHIFT_ONLY = jsonata({
    "Start": {"Type": "Pass", "Next": "Shift", "Assign": {
        "fn": "{% $states.input.function %}", "alias": "{% $states.input.alias %}",
        "stable": "{% $states.input.stable %}", "candidate": "{% $states.input.candidate %}"}},
    "Shift": update_alias("{% $stable %}", "{% {$candidate: 0.1} %}", "Shifted"),
    "Shifted": {"Type": "Pass", "End": True, "Output": "{% {'version': $states.input.FunctionVersion} %}"},
    "ShiftFailed": ROLLOUT["States"]["ShiftFailed"],
}, "Start")


def traffic(h: StepFunctionsHarness, now: float) -> None:
    """100 requests a minute, split by the alias weights moto holds now."""
    share = h.alias_weights("agent").get("2", 0.0)
    if share > 0:
        h.put_metric("Deployer", "Invocations", round(100 * share), dimensions={"Version": "2"}, unit="Count")


def test_on_the_600x_wall_clock_a_300_second_wait_takes_half_a_second_and_time_functions_read_it(
        fake_aws: None) -> None:
    with stepfunctions_in_moto(clock=EmulatedClock(start=START, scale=600)) as harness:
        before, result, after = _wait_300_seconds(harness)

    assert result.status == "SUCCEEDED", result.cause
    out = result.output
    # Bounds from the clock itself, not from how fast this machine is: the run happened between
    # `before` and `after`, and at 600x it cannot take less than 300 / 600 s of real time.
    assert before <= out["t0"] and out["t0"] + out["elapsed"] <= after
    assert out["elapsed"] >= 300_000
    assert out["iso0"].startswith("2027-01-15T")  # $now() of clock time START + a little, not today
    assert out["started"].startswith("2027-01-15T") and out["entered"].startswith("2027-01-15T")
    assert result.wall_s >= 0.5
    waited = result.events_of("WaitStateExited")[0].at - result.events_of("WaitStateEntered")[0].at
    assert 300 <= waited <= (after - before) / 1000  # history timestamps are clock times


def test_on_the_stepped_clock_a_300_second_wait_is_exactly_300_seconds(harness: StepFunctionsHarness) -> None:
    before, result, after = _wait_300_seconds(harness)

    assert result.status == "SUCCEEDED", result.cause
    out = result.output
    assert out["t0"] == before and out["elapsed"] == 300_000 and after == before + 300_000
    assert out["iso0"] == "2027-01-15T08:00:00.000Z"
    waited = result.events_of("WaitStateExited")[0].at - result.events_of("WaitStateEntered")[0].at
    assert waited == 300


def _wait_300_seconds(harness: StepFunctionsHarness) -> tuple[int, Any, int]:
    arn = harness.create_state_machine(jsonata({
        "Mark": {"Type": "Pass", "Next": "Wait", "Assign": {"t0": "{% $millis() %}", "iso0": "{% $now() %}"}},
        "Wait": {"Type": "Wait", "Seconds": 300, "Next": "End"},
        "End": {"Type": "Pass", "End": True, "Output": "{% {'t0': $t0, 'iso0': $iso0, 'elapsed': $millis() - $t0, "
                                                       "'started': $states.context.Execution.StartTime, "
                                                       "'entered': $states.context.State.EnteredTime} %}"}}, "Mark"))
    before = harness.clock.millis()
    result = harness.run(arn, timeout_s=10)  # 300 s of real time would time out
    return before, result, harness.clock.millis()


def test_computed_waits_and_timestamp_waits_follow_the_clock(harness: StepFunctionsHarness) -> None:
    arn = harness.create_state_machine(jsonata({
        "Computed": {"Type": "Wait", "Seconds": "{% $states.input.bake * 2 %}", "Next": "Mark"},
        "Mark": {"Type": "Pass", "Next": "Until", "Assign": {"t1": "{% $millis() %}"}},
        "Until": {"Type": "Wait", "Timestamp": "{% $fromMillis($t1 + 180000, '[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01]Z') %}",
                  "Next": "End"},
        "End": {"Type": "Pass", "End": True, "Output": "{% {'until': $millis() - $t1} %}"}}, "Computed"))

    result = harness.run(arn, {"bake": 60}, timeout_s=10)

    assert result.status == "SUCCEEDED", result.cause
    computed = result.events_of("WaitStateExited")[0].at - result.events_of("WaitStateEntered")[0].at
    assert computed == 120
    assert 179_000 < result.output["until"] <= 180_000  # the timestamp is truncated to the second


def test_advancing_the_clock_ends_a_day_long_wait_and_skipped_ticks_are_not_replayed(fake_aws: None) -> None:
    day = jsonata({"Day": {"Type": "Wait", "Seconds": 86_400, "Next": "Then"},
                   "Then": {"Type": "Wait", "Seconds": 120, "End": True}}, "Day")
    ticks: list[float] = []

    def jump_a_day_on_the_second_tick(h: StepFunctionsHarness, now: float) -> None:
        ticks.append(now - START)  # the first tick comes before the execution starts
        if len(ticks) == 2:
            h.clock.advance(86_400)

    with stepfunctions_in_moto(clock=SteppedClock(start=START)) as harness:
        harness.every(60, jump_a_day_on_the_second_tick)
        result = harness.run(harness.create_state_machine(day), timeout_s=10)

    assert result.status == "SUCCEEDED"
    # The jump ends the day at once; the next tick fires as the next wait starts, and the schedule
    # restarts there: the 1,439 ticks the jump skipped are not replayed.
    assert ticks == [0, 60, 86_460, 86_520, 86_580]
    with stepfunctions_in_moto(clock=EmulatedClock(start=START, scale=600)) as harness:
        ticks.clear()
        harness.every(60, jump_a_day_on_the_second_tick)
        result = harness.run(harness.create_state_machine(day), timeout_s=10)  # 144 s real without the jump

    assert result.status == "SUCCEEDED"
    assert ticks[1] - ticks[0] >= 60 and ticks[2] - ticks[1] >= 86_400 and len(ticks) < 100


def test_the_state_machine_timeout_counts_clock_seconds(harness: StepFunctionsHarness) -> None:
    arn = harness.create_state_machine(jsonata({"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}, "Wait",
                                               TimeoutSeconds=120))
    result = harness.run(arn, timeout_s=10)
    assert result.status == "TIMED_OUT"
    [started], [timed_out] = result.events_of("ExecutionStarted"), result.events_of("ExecutionTimedOut")
    assert timed_out.at - started.at == 120  # the wait stopped at the deadline, not after its 600 s


def test_a_deadline_inside_a_retry_back_off_times_out_without_another_try(harness: StepFunctionsHarness) -> None:
    harness.fail("lambda", "UpdateAlias", times=2, code="TooManyRequestsException", status=429)
    arn = harness.create_state_machine({**SHIFT_ONLY, "TimeoutSeconds": 15})

    result = harness.run(arn, agent(harness), timeout_s=10)

    assert result.status == "TIMED_OUT"
    shifts = [c for c in result.calls if c.operation == "UpdateAlias"]
    assert [c.at - START for c in shifts] == [0, 10]  # the second back-off (20 s) crosses the deadline at 15
    [started], [timed_out] = result.events_of("ExecutionStarted"), result.events_of("ExecutionTimedOut")
    assert timed_out.at - started.at == 15
    assert harness.alias_weights("agent") == {"1": 1.0}


def test_a_healthy_rollout_shifts_bakes_checks_and_promotes(harness: StepFunctionsHarness) -> None:
    arn = harness.create_state_machine(ROLLOUT)
    harness.every(60, traffic)

    result = harness.run(arn, agent(harness), timeout_s=15)

    assert result.status == "SUCCEEDED", result.cause
    assert [(u.version, u.weights) for u in result.alias_updates] == [("1", {"2": 0.1}), ("2", {})]
    assert result.alias_updates[1].at - result.alias_updates[0].at >= 300
    assert harness.alias_weights("agent") == {"2": 1.0}
    assert result.output["served"] >= 10 and result.output["elapsedMs"] >= 300_000
    [note] = result.notifications
    assert note.subject == "rollout completed" and json.loads(note.message)["candidate"] == "2"
    assert [(c.service, c.operation) for c in result.calls] == [
        ("lambda", "UpdateAlias"), ("cloudwatch", "DescribeAlarms"), ("cloudwatch", "GetMetricStatistics"),
        ("lambda", "UpdateAlias"), ("sns", "Publish")]
    assert result.states_entered() == ["Start", "Shift", "Bake", "Check", "Traffic", "Gate", "Promote", "NotifyDone",
                                       "Done"]


def test_an_alarm_in_alarm_rolls_back_to_the_stable_version(harness: StepFunctionsHarness) -> None:
    arn = harness.create_state_machine(ROLLOUT)

    def break_candidate(h: StepFunctionsHarness, now: float) -> None:
        traffic(h, now)
        if h.alias_weights("agent").get("2"):
            h.set_alarm("agent-latency", "ALARM")

    harness.every(60, break_candidate)
    result = harness.run(arn, agent(harness), timeout_s=15)

    assert (result.status, result.error) == ("FAILED", "RolloutRolledBack")
    assert result.cause == "gating alarm(s) in ALARM: agent-latency"
    assert [(u.version, u.weights) for u in result.alias_updates] == [("1", {"2": 0.1}), ("1", {})]
    assert harness.alias_weights("agent") == {"1": 1.0}
    assert [n.subject for n in result.notifications] == ["rollout rolled back"]


def test_no_traffic_rolls_back_and_empty_datapoints_sum_to_zero_in_brackets(harness: StepFunctionsHarness) -> None:
    result = harness.run(harness.create_state_machine(ROLLOUT), agent(harness), timeout_s=15)

    assert (result.status, result.error, result.cause) == ("FAILED", "RolloutRolledBack", "only 0 requests")


def test_sum_of_empty_datapoints_without_brackets_is_a_query_evaluation_error(harness: StepFunctionsHarness) -> None:
    def traffic_state(expression: str) -> dict[str, Any]:
        return jsonata({"Traffic": {
            "Type": "Task", "Resource": SDK + "cloudwatch:getMetricStatistics", "End": True,
            "Arguments": {"Namespace": "Deployer", "MetricName": "Invocations", "Period": 60, "Statistics": ["Sum"],
                          "StartTime": "{% $fromMillis($millis() - 600000) %}", "EndTime": "{% $now() %}"},
            "Output": {"served": expression}}}, "Traffic")

    harness.put_metric("Deployer", "Other", 5)
    bracketed = harness.run(harness.create_state_machine(traffic_state("{% $sum([$states.result.Datapoints.Sum]) %}"),
                                                         "bracketed"))
    bare = harness.run(harness.create_state_machine(traffic_state("{% $sum($states.result.Datapoints.Sum) %}"), "bare"))

    assert (bracketed.status, bracketed.output) == ("SUCCEEDED", {"served": 0})
    assert (bare.status, bare.error) == ("FAILED", "States.QueryEvaluationError")
    assert "returned nothing (undefined)" in str(bare.cause)
    harness.put_metric("Deployer", "Invocations", 7)
    harness.clock.advance(60)  # a query ending at the very instant of the datum leaves it out (EndTime is exclusive)
    assert harness.run(harness.create_state_machine(traffic_state("{% $sum($states.result.Datapoints.Sum) %}"),
                                                    "bare-with-data")).output == {"served": 7}


def test_retry_with_backoff_rides_out_two_injected_throttles(harness: StepFunctionsHarness) -> None:
    h = harness
    h.fail("lambda", "UpdateAlias", times=2, code="TooManyRequestsException", status=429)
    result = h.run(h.create_state_machine(SHIFT_ONLY), agent(h), timeout_s=15)

    assert (result.status, result.output) == ("SUCCEEDED", {"version": "1"})
    shifts = [c for c in result.calls if c.operation == "UpdateAlias"]
    assert [c.error for c in shifts] == ["TooManyRequestsException", "TooManyRequestsException", None]
    assert (shifts[1].at - shifts[0].at, shifts[2].at - shifts[1].at) == (10, 20)  # 10 s, then x2
    assert [e.details["error"] for e in result.events_of("TaskFailed")] == ["Lambda.TooManyRequestsException"] * 2
    assert h.faults_left() == 0


def test_retries_run_out_into_the_catch(harness: StepFunctionsHarness) -> None:
    harness.fail("lambda", "UpdateAlias", times=5)

    result = harness.run(harness.create_state_machine(SHIFT_ONLY), agent(harness), timeout_s=15)

    assert result.output["caught"]["Error"] == "Lambda.TooManyRequestsException"
    assert len([c for c in result.calls if c.operation == "UpdateAlias"]) == 4  # the try, then MaxAttempts 3 retries
    assert harness.faults_left() == 1


def test_catch_routes_a_permanent_failure_with_its_error_output(harness: StepFunctionsHarness) -> None:
    harness.fail("lambda", "UpdateAlias", times=1, code="ServiceException", status=500, message="boom")

    result = harness.run(harness.create_state_machine(SHIFT_ONLY), agent(harness), timeout_s=15)

    assert result.status == "SUCCEEDED"
    caught = result.output["caught"]
    assert caught["Error"] == "Lambda.ServiceException"  # not in the Retry's ErrorEquals: caught at once
    assert caught["Cause"].startswith("boom (Service: Lambda, Status Code: 500")
    assert result.states_entered()[-1] == "ShiftFailed"
    assert len([c for c in result.calls if c.operation == "UpdateAlias"]) == 1


@pytest.mark.parametrize(("code", "status", "aws_names", "expected"), [
    ("TooManyRequestsException", 429, True, "Lambda.TooManyRequestsException"),
    ("TooManyRequestsException", 429, False, "lambda.TooManyRequestsException"),
    ("ServiceException", 500, True, "Lambda.ServiceException"),
    ("InternalFailure", 500, True, "Lambda.LambdaException"),  # not modelled by Lambda: botocore's ClientError
])
def test_aws_sdk_error_names(fake_aws: None, code: str, status: int, aws_names: bool, expected: str) -> None:
    with stepfunctions_in_moto(clock=EmulatedClock(start=START), aws_error_names=aws_names) as h:
        h.fail("lambda", "GetAlias", code=code, status=status)
        arn = h.create_state_machine(jsonata({"Get": {
            "Type": "Task", "Resource": SDK + "lambda:getAlias", "End": True,
            "Arguments": {"FunctionName": "agent", "Name": "live"}}}, "Get"))
        result = h.run(arn)
    assert (result.status, result.error) == ("FAILED", expected)


def test_injected_faults_hit_only_the_interpreter(harness: StepFunctionsHarness) -> None:
    agent(harness)
    harness.fail("lambda", "GetAlias", times=3)
    get_alias = jsonata({"Get": {"Type": "Task", "Resource": SDK + "lambda:getAlias", "End": True,
                                 "Arguments": {"FunctionName": "agent", "Name": "live"}}}, "Get")

    failed = harness.run(harness.create_state_machine(get_alias))
    served = harness.client("lambda").get_alias(FunctionName="agent", Name="live")["FunctionVersion"]

    assert (failed.status, failed.error, served) == ("FAILED", "Lambda.TooManyRequestsException", "1")
    assert harness.faults_left() == 2
    assert [(c.operation, c.error) for c in harness.calls] == [("GetAlias", "TooManyRequestsException")]


def test_a_failing_simulator_stops_the_run(harness: StepFunctionsHarness) -> None:
    from tests.helpers.stepfunctions_moto import SimulatorFailed

    def broken(h: StepFunctionsHarness, now: float) -> None:
        raise RuntimeError("simulator bug")

    harness.every(60, broken)
    arn = harness.create_state_machine(jsonata({"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}, "Wait"))
    with pytest.raises(SimulatorFailed, match="simulator bug"):
        harness.run(arn, timeout_s=10)


def test_every_patch_is_undone_on_exit(fake_aws: None) -> None:
    from moto.stepfunctions.parser.asl.component.common.retry.retrier_decl import RetrierDecl
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk as sdk
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval.event import event_manager
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    def snapshot() -> tuple[Any, ...]:
        return (moto_jsonata._eval_jsonata, WaitFunction._wait_interval, Program.eval, RetrierDecl._eval_body,
                vars(sdk)["boto_client_for"], dict(sdk._SERVICE_ERROR_NAMES), vars(event_manager)["datetime"],
                os.environ.get("MOTO_ACCOUNT_ID"))

    before = snapshot()
    with stepfunctions_in_moto(account="111111111111") as h:
        assert snapshot() != before and os.environ["MOTO_ACCOUNT_ID"] == "111111111111"
        arn = h.create_state_machine(jsonata({"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}, "Wait"))
        with pytest.raises(ExecutionTimeout, match="still RUNNING"):
            h.run(arn, timeout_s=0.2)  # an hour is 6 s real at 600x; run() stops it
        h.client("stepfunctions").start_execution(stateMachineArn=arn, name="left-running")  # the exit stops it
        with pytest.raises(RuntimeError, match="one stepfunctions_in_moto"), stepfunctions_in_moto():
            pass
    assert snapshot() == before


def test_the_resolver_reads_pseudo_parameters_refs_and_attributes() -> None:
    template = {"Resources": {"Fn": {"Type": "AWS::Lambda::Function", "Properties": {}}}}
    resolver = TemplateResolver(template, region="eu-west-1", account="111111111111",
                                physical={"Fn": {"Ref": "agent", "Arn": "arn:aws:lambda:eu-west-1:111111111111:function:agent"}})
    assert resolver.resolve({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":states:::", {"Ref": "Fn"}, "@",
                                               {"Fn::GetAtt": ["Fn", "Arn"]}, ".", {"Ref": "AWS::URLSuffix"}]]}) == \
        "arn:aws:states:::agent@arn:aws:lambda:eu-west-1:111111111111:function:agent.amazonaws.com"
    assert resolver.resolve({"Fn::Sub": "${AWS::Region}/${Fn}/${Fn.Arn}/${!Literal}"}) == \
        "eu-west-1/agent/arn:aws:lambda:eu-west-1:111111111111:function:agent/${Literal}"
    with pytest.raises(KeyError, match="Missing"):
        resolver.resolve({"Ref": "Missing"})


# -- a definition synthesized by the project's own CDK app ---------------------------------------


@pytest.fixture(scope="module")
def synthesized_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One synth per module (~2-10 s) of a hand-made model whose rollout engine is stepfunctions."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from deployer.synth import SynthTarget, synth
    from tests.infra.models import model

    bundle = tmp_path_factory.mktemp("bundle")
    (bundle / "handlers").mkdir()
    for module in ("__init__", "runtime", "recorder"):
        (bundle / "handlers" / f"{module}.py").write_text("def handler(event, context):\n    return {}\n")
    result = synth([SynthTarget(model(), str(bundle), "7")], out_dir=tmp_path_factory.mktemp("cdk") / "cdk.out")
    [path] = result.templates.values()
    return json.loads(Path(path).read_text())  # type: ignore[no-any-return]


@pytest.mark.slow
def test_a_synthesized_definition_resolves_and_moto_accepts_it(harness: StepFunctionsHarness,
                                                                synthesized_template: dict[str, Any]) -> None:
    stack: DeployedStack = harness.deploy_template(synthesized_template, stack_name="demo-agent-staging")

    [definition] = stack.definitions.values()
    parsed = json.loads(definition)
    assert parsed["QueryLanguage"] == "JSONata" and parsed["StartAt"] in parsed["States"]
    assert "{\"Ref\"" not in definition and "Fn::" not in definition
    assert not [v for v in stack.resolver.placeholders.values() if v in definition]
    described = harness.client("stepfunctions").describe_state_machine(stateMachineArn=stack.state_machine_arn)
    assert json.loads(described["definition"]) == parsed
    # What the definition touches exists: the alias on the served version, the candidate version,
    # every alarm (metric math and percentile ones too), every topic.
    [function] = {n for n in stack.functions.values() if harness.client("lambda").list_aliases(FunctionName=n)["Aliases"]}
    assert harness.alias_weights(function) == {"7": 1.0}
    assert list(stack.versions.values()) == ["8"]
    alarms = harness.client("cloudwatch").describe_alarms(AlarmNames=list(stack.alarms.values()))["MetricAlarms"]
    assert len(alarms) == len(stack.alarms) >= 2
    assert any(a.get("Metrics") for a in alarms) and any(a.get("ExtendedStatistic") for a in alarms)
    assert len(harness.client("sns").list_topics()["Topics"]) == len(stack.topics)

