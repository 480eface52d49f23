"""Exact statistics: nearest-rank percentiles, least-squares slopes, per-second buckets."""

from __future__ import annotations

import pytest

from deployer.loadtest.records import RequestRecord
from deployer.loadtest.stats import LiveWindow, linear_fit, percentile, time_buckets


def record(t: float, ms: float, outcome: str = "ok") -> RequestRecord:
    return RequestRecord(t=t, ms=ms, status=200 if outcome == "ok" else 500, outcome=outcome,  # type: ignore[arg-type]
                         phase="rate", worker="0")


def test_percentile_is_the_latency_of_a_real_request_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100 ms
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.25, 7.5], 99) == 7.5  # never interpolated, never rounded to a bucket


def test_percentile_of_a_single_sample_and_of_none() -> None:
    assert percentile([12.345], 1) == 12.345
    assert percentile([], 99) is None


def test_p99_of_1000_requests_is_the_990th_smallest() -> None:
    values = sorted(float(v) * 1.001 for v in range(1000))
    assert percentile(values, 99) == values[989]


def test_linear_fit_recovers_a_leak_slope() -> None:
    xs = [float(i) for i in range(1000)]
    ys = [100.0 + 0.25 * x for x in xs]  # 0.25 MB per request
    fit = linear_fit(xs, ys)
    assert fit is not None
    assert fit.per_unit == pytest.approx(0.25)
    assert fit.intercept == pytest.approx(100.0)


def test_linear_fit_needs_two_distinct_points() -> None:
    assert linear_fit([1.0], [2.0]) is None
    assert linear_fit([1.0, 1.0], [2.0, 3.0]) is None


def test_time_buckets_count_outcomes_per_second() -> None:
    records = [record(100.0, 10), record(100.5, 20, "failed"), record(101.2, 30, "timeout"), record(103.0, 5)]
    buckets = time_buckets(records, origin=100.0)
    assert [b.sent for b in buckets] == [2, 1, 0, 1]
    assert buckets[0].failed == 1 and buckets[1].timed_out == 1
    assert buckets[2].p99_ms is None
    assert buckets[0].p99_ms == 20


def test_live_window_forgets_requests_older_than_the_window() -> None:
    window = LiveWindow(window_s=5.0)
    window.add([record(90.0, 10), record(99.0, 40), record(99.5, 20)])
    rps, p99 = window.figures(now=100.0)
    assert rps == pytest.approx(2 / 5.0)
    assert p99 == 40


def test_results_tail_reads_only_whole_lines_and_resumes(tmp_path) -> None:
    from deployer.loadtest.records import ResultsTail

    path = tmp_path / "requests-rate-0.jsonl"
    first, second = record(1.0, 5.0), record(2.0, 6.0)
    path.write_text(first.to_json() + "\n" + second.to_json()[:20])  # the second line is still being written
    tail = ResultsTail(tmp_path)
    assert tail.read_new() == [first]
    with path.open("a") as handle:
        handle.write(second.to_json()[20:] + "\n")
    assert tail.read_new() == [second]
    assert tail.read_new() == []
