"""Figures of a run: the achieved rate, memory after N requests, cost projections."""

from __future__ import annotations

import pytest

from deployer.loadtest.records import RequestRecord
from deployer.loadtest.summary import summarize


def sent_at(times: list[float], **usage: float) -> list[RequestRecord]:
    return [RequestRecord(t=t, ms=5.0, status=200, outcome="ok", phase="rate", worker="0", **usage)  # type: ignore[arg-type]
            for t in times]


def figures(records: list[RequestRecord], *, rps: float = 100.0, planned_s: float = 10.0, interrupted: bool = False):
    return summarize(records, asked_rps=rps, planned_s=planned_s, expected_requests_per_month=1_000_000,
                     confidence_threshold=0.5, interrupted=interrupted)


def test_a_held_rate_is_the_asked_rate() -> None:
    assert figures(sent_at([i / 100 for i in range(1000)])).achieved_rps == pytest.approx(100.0)


def test_one_late_request_at_the_end_does_not_decide_the_rate() -> None:
    times = [i / 100 for i in range(999)] + [12.0]  # the last one left two seconds late
    assert figures(sent_at(times)).achieved_rps == pytest.approx(100.0)


def test_a_generator_that_keeps_falling_behind_shows_a_lower_rate() -> None:
    times = [i / 60 for i in range(1000)]  # asked 100 rps, only 60 went out per second
    result = figures(sent_at(times))
    assert result.achieved_rps == pytest.approx(60.0, rel=0.01)


def test_an_interrupted_run_is_judged_on_what_ran() -> None:
    result = figures(sent_at([i / 100 for i in range(300)]), interrupted=True)
    assert result.requests == 300
    assert result.elapsed_s == pytest.approx(3.0)
    assert result.achieved_rps == pytest.approx(100.0)


def test_memory_after_n_requests_is_the_median_of_the_last_samples() -> None:
    records = sent_at([i / 100 for i in range(100)], memory_mb=100.0)
    records[-1] = RequestRecord(t=0.995, ms=5.0, status=200, outcome="ok", phase="rate", worker="0", memory_mb=900.0)
    result = figures(records)
    assert result.memory_after_mb == 100.0  # one outlier does not move it
    assert result.memory_max_mb == 900.0


def test_cost_per_1000_and_the_monthly_projection() -> None:
    result = figures(sent_at([i / 100 for i in range(1000)], cost_usd=0.0005))
    assert result.cost_per_1000_usd == pytest.approx(0.5)
    assert result.projected_monthly_usd == pytest.approx(500.0)  # 1M requests a month


def test_no_records_gives_empty_figures() -> None:
    result = figures([])
    assert result.requests == 0 and result.error_rate_pct is None and result.latency_p99_ms is None


def test_the_slowest_requests_carry_their_redacted_input_and_replay_command() -> None:
    from deployer.loadtest.records import RequestRecord
    from deployer.loadtest.summary import slowest_requests
    from handlers.redaction import Redactor

    bodies = [b'{"message": "mail me at ann@example.com"}', b'{"message": "' + b"x" * 400 + b'"}']
    recs = [RequestRecord(t=1.0 + i, ms=float(i), status=200, outcome="ok", phase="rate", worker="0",
                          request_id=f"r{i}" if i != 4 else None, input_index=i % 2) for i in range(5)]
    slow = slowest_requests(recs, bodies, replay_command="deployer replay {request_id} --env staging",
                            redact=Redactor(["email"]).redact, count=3)
    assert [s.latency_ms for s in slow] == [4.0, 3.0, 2.0]
    assert slow[0].replay is None  # the response carried no request id
    assert slow[1].replay == "deployer replay r3 --env staging"
    assert slow[1].input_excerpt.endswith("…") and len(slow[1].input_excerpt) == 160
    assert slow[2].input_excerpt == '{"message": "mail me at [REDACTED:email]"}'
