"""Alarm evaluation against worked examples of CloudWatch's semantics."""

from __future__ import annotations

from typing import Any

import pytest

from deployer.compiled import AlarmModel
from deployer.local.behaviour.alarms import AlarmEvaluator, decide, is_low_sample, percentile, statistic_value
from deployer.local.behaviour.metrics import MetricKey, MetricStore

T0 = 1_800_000_000.0  # a multiple of 60: period boundaries fall on T0 + k * 60
DIMS = {"Agent": "a", "Environment": "e", "Version": "2"}


def alarm(**overrides: object) -> AlarmModel:
    base: dict[str, object] = dict(
        name="latency", kind="latency", source="abort", metric="Latency", statistic="Maximum",
        comparison="GreaterThanThreshold", threshold=100.0, period_s=60, evaluation_periods=3,
        datapoints_to_alarm=2, missing_data="missing", notify=(), gates_rollout=True, severity="critical",
        description="",
    )
    base.update(overrides)
    return AlarmModel(**base)  # type: ignore[arg-type]


def evaluator(store: MetricStore, *alarms: AlarmModel, **kwargs: object) -> AlarmEvaluator:
    ev = AlarmEvaluator(alarms, store, agent="a", environment="e", **kwargs)  # type: ignore[arg-type]
    ev.watch("2", T0)
    return ev


def put(store: MetricStore, metric: str, period_index: int, *values: float, version: str = "2",
        namespace: str = "Deployer") -> None:
    key = MetricKey.of(namespace, metric, {**DIMS, "Version": version})
    for i, value in enumerate(values):
        store.add(key, T0 + period_index * 60 + 1 + i * 0.001, value)


# -- decide(): the M-out-of-N table ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("classes", "m", "missing", "current", "expected"),
    [
        (["B", "G", "B"], 2, "missing", "OK", "ALARM"),  # 2 of 3 breaching
        (["B", "G", "G"], 2, "missing", "OK", "OK"),  # 1 of 3: not enough
        (["B", "B", "B"], 3, "missing", "OK", "ALARM"),
        (["G", "B", "B"], 3, "missing", "ALARM", "OK"),  # 3 of 3 needed
        (["-", "-", "-"], 2, "missing", "OK", "INSUFFICIENT_DATA"),
        (["-", "-", "-"], 2, "ignore", "ALARM", "ALARM"),  # ignore keeps the state
        (["-", "-", "-"], 2, "ignore", "OK", "OK"),
        (["-", "-", "-"], 2, "breaching", "OK", "ALARM"),  # missing counts as bad
        (["-", "-", "-"], 2, "notBreaching", "ALARM", "OK"),  # missing counts as good
        (["B", "-", "-"], 2, "breaching", "OK", "ALARM"),
        (["B", "-", "-"], 2, "notBreaching", "OK", "OK"),
        (["B", "-", "B"], 2, "missing", "OK", "ALARM"),  # present breaching points suffice
        (["B", "-", "-"], 2, "missing", "ALARM", "ALARM"),  # breach >= M periods old, gaps since: ALARM
        (["B", "-", "-"], 2, "ignore", "ALARM", "ALARM"),  # too little real data: ignore keeps the state
    ],
)
def test_decide_follows_the_m_out_of_n_and_missing_data_rules(classes, m, missing, current, expected):
    assert decide(classes, m, missing, current) == expected


# -- statistics ---------------------------------------------------------------------------------------
def test_percentile_is_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 99) == 99
    assert percentile(values, 50) == 50
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile([1, 2, 3, 4, 1000], 99) == 1000  # few samples: the max


def test_statistics_from_raw_values():
    values = [1.0, 2.0, 3.0, 10.0]
    assert statistic_value(values, "Sum") == 16
    assert statistic_value(values, "Average") == 4
    assert statistic_value(values, "Minimum") == 1
    assert statistic_value(values, "Maximum") == 10
    assert statistic_value(values, "SampleCount") == 4
    assert statistic_value([], "Sum") is None


def test_low_sample_threshold_is_10_over_1_minus_p():
    assert is_low_sample("p99", 999)
    assert not is_low_sample("p99", 1000)
    assert is_low_sample("p90", 99) and not is_low_sample("p90", 100)
    assert is_low_sample("p10", 99) and not is_low_sample("p10", 100)  # below p50: 10 / p
    assert not is_low_sample("Average", 1)


# -- the evaluator over real datapoints -------------------------------------------------------------
def test_two_of_three_breaching_periods_fire_and_the_reason_says_so():
    store = MetricStore()
    a = alarm()
    put(store, "Latency", 0, 150.0)
    put(store, "Latency", 1, 50.0)
    put(store, "Latency", 2, 300.0, 20.0)
    ev = evaluator(store, a)
    t = ev.evaluate(a, T0 + 180.5)
    assert t is not None and (t.old, t.new) == ("INSUFFICIENT_DATA", "ALARM")
    assert "2 out of the last 3 datapoints" in t.reason and "greater than the threshold (100)" in t.reason
    assert ev.status()[0].datapoints == [150.0, 50.0, 300.0]


def test_only_complete_periods_count():
    store = MetricStore()
    a = alarm(evaluation_periods=1, datapoints_to_alarm=1)
    put(store, "Latency", 3, 500.0)  # in the period [T0+180, T0+240): not complete at T0+200
    ev = evaluator(store, a)
    assert ev.evaluate(a, T0 + 200) is None  # the last complete period has no data: no change
    assert ev.status()[0].state == "INSUFFICIENT_DATA"
    t = ev.evaluate(a, T0 + 240.1)
    assert t is not None and t.new == "ALARM"


@pytest.mark.parametrize(("missing", "expected"), [
    ("breaching", "ALARM"), ("notBreaching", "OK"), ("missing", "INSUFFICIENT_DATA"), ("ignore", "OK"),
])
def test_no_data_at_all_by_missing_data_treatment(missing, expected):
    store = MetricStore()
    a = alarm(missing_data=missing)
    ev = evaluator(store, a)
    ev._status[a.name].state = "OK"  # an alarm that was healthy before the data stopped
    ev.evaluate(a, T0 + 600)
    assert ev.status()[0].state == expected


def test_error_rate_is_metric_math_over_sums():
    store = MetricStore()
    a = alarm(name="errors", kind="error_rate", metric="ErrorRate", statistic="Sum", threshold=2.0,
              evaluation_periods=1, datapoints_to_alarm=1, missing_data="notBreaching")
    put(store, "Invocations", 0, *([1.0] * 40))
    put(store, "Errors", 0, *([0.0] * 39 + [1.0]))  # 1 / 40 = 2.5 %
    ev = evaluator(store, a)
    t = ev.evaluate(a, T0 + 60.5)
    assert t is not None and t.new == "ALARM"
    assert ev.status()[0].datapoints == [2.5]


def test_error_rate_without_invocations_is_missing_not_zero():
    store = MetricStore()
    a = alarm(name="errors", kind="error_rate", metric="ErrorRate", statistic="Sum", threshold=2.0,
              evaluation_periods=1, datapoints_to_alarm=1, missing_data="missing")
    ev = evaluator(store, a)
    ev.evaluate(a, T0 + 60.5)
    assert ev.status()[0].datapoints == [None]
    assert ev.status()[0].state == "INSUFFICIENT_DATA"


def test_p99_with_too_few_samples_is_evaluated_by_default():
    store = MetricStore()
    a = alarm(statistic="p99", evaluation_periods=1, datapoints_to_alarm=1, threshold=2000.0)
    put(store, "Latency", 0, *([10.0] * 19 + [2500.0]))  # 20 samples; p99 by nearest rank = the max
    ev = evaluator(store, a)
    t = ev.evaluate(a, T0 + 60.5)
    assert t is not None and t.new == "ALARM"
    assert "fewer samples than a stable percentile needs" in t.reason


def test_p99_with_too_few_samples_keeps_state_when_told_to_ignore():
    store = MetricStore()
    a = alarm(statistic="p99", evaluation_periods=1, datapoints_to_alarm=1, threshold=2000.0)
    put(store, "Latency", 0, *([10.0] * 19 + [2500.0]))
    ev = evaluator(store, a, evaluate_low_sample_count="ignore")
    assert ev.evaluate(a, T0 + 60.5) is None
    assert ev.status()[0].state == "INSUFFICIENT_DATA"
    put(store, "Latency", 1, *([10.0] * 985 + [2500.0] * 15))  # 1000 samples: p99 = 2500
    t = ev.evaluate(a, T0 + 120.5)
    assert t is not None and t.new == "ALARM"


def test_alarms_watch_one_version_and_ignore_replays():
    store = MetricStore()
    a = alarm(evaluation_periods=1, datapoints_to_alarm=1)
    put(store, "Latency", 0, 900.0, version="1")  # the stable version is slow: not watched
    put(store, "Latency", 0, 900.0, namespace="Deployer/Replay")  # a replay: never counts
    put(store, "Latency", 0, 20.0)
    ev = evaluator(store, a)
    t = ev.evaluate(a, T0 + 60.5)
    assert t is not None and t.new == "OK"


def test_watching_a_new_version_resets_states():
    store = MetricStore()
    a = alarm(evaluation_periods=1, datapoints_to_alarm=1)
    put(store, "Latency", 0, 900.0)
    ev = evaluator(store, a)
    ev.evaluate(a, T0 + 60.5)
    assert ev.firing()[0].name == "latency"
    ev.watch("3", T0 + 61)
    assert ev.firing() == [] and ev.status()[0].state == "INSUFFICIENT_DATA"


def test_transitions_only_on_change_and_callback_receives_them():
    seen: list[Any] = []
    store = MetricStore()
    a = alarm(evaluation_periods=1, datapoints_to_alarm=1, missing_data="notBreaching")
    ev = AlarmEvaluator((a,), store, agent="a", environment="e", on_transition=seen.append)
    ev.watch("2", T0)
    put(store, "Latency", 0, 500.0)
    ev.evaluate(a, T0 + 60.5)
    ev.evaluate(a, T0 + 61)  # same data, same state: no transition
    ev.evaluate(a, T0 + 120.5)  # period 1 has no data, but period 0 is still in the evaluation range
    ev.evaluate(a, T0 + 240.5)  # periods 1-3 have no data: notBreaching -> OK
    assert [(t.old, t.new) for t in seen] == [("INSUFFICIENT_DATA", "ALARM"), ("ALARM", "OK")]


def test_nothing_is_evaluated_before_a_version_is_watched():
    store = MetricStore()
    a = alarm()
    ev = AlarmEvaluator((a,), store, agent="a", environment="e")
    assert ev.evaluate_all(T0 + 600) == []


def test_a_service_alarm_watches_every_version_and_a_new_version_does_not_reset_it():
    store = MetricStore()
    service = alarm(name="errors-page", statistic="Sum", threshold=5, evaluation_periods=1, datapoints_to_alarm=1,
                    scope="service", source="alert")
    canary = alarm(name="canary-errors-page", statistic="Sum", threshold=5, evaluation_periods=1,
                   datapoints_to_alarm=1, scope="version")
    ev = evaluator(store, service, canary)
    for version in ("1", "2"):  # 4 + 4 over the service; 4 on version 2 alone
        key = MetricKey.of("Deployer", "Latency", {"Agent": "a", "Environment": "e", "Version": version})
        service_key = MetricKey.of("Deployer", "Latency", {"Agent": "a", "Environment": "e"})
        for value in (1, 1, 1, 1):
            store.add(key, T0 + 1, value)
            store.add(service_key, T0 + 1, value)
    ev.evaluate_all(T0 + 60)
    assert {s.name: s.state for s in ev.status()} == {"errors-page": "ALARM", "canary-errors-page": "OK"}
    ev.watch("3", T0 + 61)  # a deploy re-points the version alarms only
    assert {s.name: s.state for s in ev.status()} == {"errors-page": "ALARM", "canary-errors-page": "INSUFFICIENT_DATA"}
