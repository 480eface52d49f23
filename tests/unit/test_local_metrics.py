"""EMF parsing and the metric store."""

from __future__ import annotations

import json

from deployer.local.behaviour.clock import ManualClock, ScaledClock
from deployer.local.behaviour.metrics import MetricKey, MetricStore, parse_emf

EMF = {
    "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{
        "Namespace": "Deployer",
        "Dimensions": [["Agent", "Environment", "Version"], ["Agent", "Environment"]],
        "Metrics": [{"Name": "Invocations", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"},
                    {"Name": "Missing", "Unit": "Count"}],
    }]},
    "Agent": "a", "Environment": "e", "Version": "3", "Invocations": 1, "Latency": [12.5, 13.0],
}


def test_parse_emf_yields_every_metric_for_every_dimension_set():
    points = parse_emf(EMF)
    keys = {(k.name, k.dimensions) for k, _, _ in points}
    assert ("Invocations", (("Agent", "a"), ("Environment", "e"), ("Version", "3"))) in keys
    assert ("Invocations", (("Agent", "a"), ("Environment", "e"))) in keys
    latencies = [v for k, v, u in points if k.name == "Latency" and len(k.dimensions) == 3]
    assert latencies == [12.5, 13.0]  # EMF value arrays are several datapoints
    assert all(k.name != "Missing" for k, _, _ in points)  # declared but absent: skipped


def test_parse_emf_ignores_other_lines():
    assert parse_emf({"event": "request"}) == []
    assert parse_emf({"_aws": "nonsense"}) == []


def test_store_range_queries_are_half_open_and_prune_old_points():
    store = MetricStore(retention_s=100)
    key = MetricKey.of("Deployer", "Latency", {"Version": "1"})
    for ts in (10.0, 20.0, 30.0):
        store.add(key, ts, ts)
    store.add(key, 15.0, 15.0)  # out of order still lands sorted
    assert store.values(key, 10, 30) == [10.0, 15.0, 20.0]
    store.prune(now=125.0)
    assert store.values(key, 0, 100) == [30.0]


def test_scaled_clock_runs_faster_than_real_time():
    clock = ScaledClock(1000, origin=0.0)
    import threading
    import time

    start = clock.now()
    woke = clock.wait(threading.Event(), 50.0)  # 50 emulated seconds = 0.05 s real
    assert not woke and clock.now() - start >= 50.0
    assert time.monotonic() > 0


def test_manual_clock_moves_only_when_advanced():
    clock = ManualClock(100.0)
    import threading

    assert clock.now() == 100.0
    clock.wait(threading.Event(), 30)
    assert clock.now() == 130.0


def test_parse_emf_skips_what_an_agent_may_print_that_only_looks_like_emf():
    hostile = [
        {"_aws": {"CloudWatchMetrics": "abc"}},
        {"_aws": {"CloudWatchMetrics": [1, None, "x"]}},
        {"_aws": {"CloudWatchMetrics": [{"Metrics": "Latency", "Dimensions": [["Agent"]]}]}, "Latency": 1},
        {"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": ["a"]}, {"Name": {"b": 1}}]}]}},
        {"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "L"}], "Dimensions": "Agent"}]}, "L": 1},
        {"_aws": {"CloudWatchMetrics": [{"Metrics": [{"Name": "L"}], "Dimensions": [[1, ["x"]]]}]}, "L": 1},
    ]
    for obj in hostile:
        assert parse_emf(obj) == [], obj


def test_function_logs_keep_a_request_record_that_mentions_aws_and_store_only_real_emf():
    from deployer.local.behaviour.logs import FunctionLogs

    forwarded: list[str] = []
    store = MetricStore(retention_s=100)
    logs = FunctionLogs(store, forward=lambda at, lines: forwarded.extend(lines),
                        metric_names=frozenset({"Invocations", "Latency"}))
    record = json.dumps({"event": "request", "request_id": "r1", "action": "_aws", "input": {"_aws": 1}})
    logs.add("3", [record, json.dumps(EMF), 'print "_aws" {not json', "REPORT RequestId: r1"], at=5.0)
    assert logs.tail() == [record, '[v3] print "_aws" {not json', "[v3] REPORT RequestId: r1"]
    assert len(forwarded) == 4  # everything still goes to the sink
    key = MetricKey.of("Deployer", "Latency", {"Agent": "a", "Environment": "e", "Version": "3"})
    assert store.values(key, 0, 10) == [12.5, 13.0]
