"""The SLO gate judged on hand-made request records (no load generated)."""

from __future__ import annotations

from collections.abc import Sequence

from deployer.compiled import DeploymentModel
from deployer.loadtest.gate import gate_passed, level_verdict, max_level, slo_checks
from deployer.loadtest.records import RequestRecord
from deployer.loadtest.session import generator_health
from deployer.loadtest.summary import Figures, summarize
from tests.helpers.loadtest_target import local_model


def records(n: int, *, ms: float = 10.0, failed_every: int = 0, leak_mb: float = 0.0, cost: float = 0.00002,
            rps: float = 100.0, slow_every: int = 0, slow_ms: float = 0.0) -> list[RequestRecord]:
    out = []
    for i in range(n):
        bad = failed_every and i % failed_every == 0
        slow = slow_every and i % slow_every == 0
        out.append(RequestRecord(
            t=1000.0 + i / rps, ms=slow_ms if slow else ms, status=500 if bad else 200,
            outcome="failed" if bad else "ok", phase="rate", worker="0", request_id=f"r{i}",
            cost_usd=None if bad else cost, memory_mb=None if bad else 100.0 + i * leak_mb,
            confidence=None if bad else 0.9, input_index=i % 7))
    return out


def judge(model: DeploymentModel, recs: Sequence[RequestRecord], rps: float = 100.0) -> tuple[Figures, dict[str, str]]:
    figures = summarize(recs, asked_rps=rps, planned_s=len(recs) / rps,
                        expected_requests_per_month=model.cost.expected_requests_per_month,
                        confidence_threshold=model.model.confidence_threshold)
    checks = slo_checks(figures, model, tolerance=0.95)
    return figures, {c.key: c.status for c in checks}


def test_healthy_run_passes_every_gate() -> None:
    model = local_model()
    figures, status = judge(model, records(1000))
    assert set(status.values()) == {"pass"}
    assert figures.latency_p99_ms == 10.0
    assert figures.cost_per_1000_usd is not None and abs(figures.cost_per_1000_usd - 0.02) < 1e-12


def test_errors_fail_the_error_rate_gate_only() -> None:
    _, status = judge(local_model(), records(1000, failed_every=20))  # 5 %
    assert status["error_rate"] == "fail"
    assert status["latency_p99"] == "pass"


def test_slow_tail_fails_p99_but_not_p50() -> None:
    _, status = judge(local_model(), records(1000, slow_every=50, slow_ms=900.0))  # 2 % at 900 ms
    assert status["latency_p99"] == "fail"
    assert status["latency_p50"] == "pass"


def test_leak_shows_as_growth_per_10k_requests() -> None:
    model = local_model()
    figures, status = judge(model, records(1000, leak_mb=0.01))  # 10 KB per request = 100 MB per 10k
    assert figures.memory_growth_mb_per_10k is not None
    assert abs(figures.memory_growth_mb_per_10k - 100.0) < 0.5
    assert status["memory_growth"] == "fail"


def test_cost_above_the_slo_fails_cost_and_budget() -> None:
    _, status = judge(local_model(), records(1000, cost=0.002))
    assert status["cost_per_request"] == "fail"
    assert status["projected_monthly"] == "fail"  # 120k requests x $0.002 = $240 > $50


def test_fewer_samples_than_the_minimum_are_not_judged() -> None:
    model = local_model()
    _, status = judge(model, records(model.slos.min_samples - 1, failed_every=2))
    assert status["latency_p99"] == "not enough samples"
    assert status["error_rate"] == "not enough samples"
    checks = slo_checks(judge(model, records(10))[0], model, tolerance=0.95)
    assert not gate_passed(checks)  # an unjudged gate does not pass


def test_throughput_below_the_asked_rate_fails() -> None:
    model = local_model()
    recs = records(1000)
    figures = summarize(recs, asked_rps=200.0, planned_s=10.0,
                        expected_requests_per_month=1.0, confidence_threshold=None)
    checks = {c.key: c for c in slo_checks(figures, model, tolerance=0.95)}
    assert figures.achieved_rps == 100.0
    assert checks["throughput"].status == "fail"


def test_missing_slo_is_reported_not_judged() -> None:
    model = local_model(slos={"latency_p50_ms": None})
    _, status = judge(model, records(1000))
    assert status["latency_p50"] == "no slo"


def test_concurrency_levels_stop_at_the_first_level_that_misses() -> None:
    model = local_model()
    good = summarize(records(300), asked_rps=None, planned_s=3, expected_requests_per_month=1,
                     confidence_threshold=None)
    bad = summarize(records(300, failed_every=10), asked_rps=None, planned_s=3, expected_requests_per_month=1,
                    confidence_threshold=None)
    levels = (level_verdict(100, good, model), level_verdict(1000, bad, model), level_verdict(2000, good, model))
    assert [v.met_slos for v in levels] == [True, False, True]
    assert "error rate" in levels[1].why
    assert max_level(levels) == 100


def test_generator_health_blames_users_when_requests_left_late() -> None:
    from deployer.loadtest.plan import Overrides, resolve_plan
    from deployer.loadtest.runner import PhaseRun

    model = local_model()
    recs = [RequestRecord(t=1000.0 + i / 50, ms=400.0, status=200, outcome="ok", phase="rate", worker="0",
                          lag_ms=2000.0) for i in range(500)]
    plan = resolve_plan(model, Overrides(rps=100, duration_s=10, users=2, input_file=__file__,
                                         target_url="http://127.0.0.1:1"))
    figures = summarize(recs, asked_rps=100, planned_s=10, expected_requests_per_month=1, confidence_threshold=None)
    run = PhaseRun(phase="rate", records=recs, wall_s=10, interrupted=False, processes=1,
                   generator_meta=[{"cpu_share": 0.2, "cpu_s": 2.0}])
    health = generator_health(run, figures, plan)
    assert health.bottleneck == "users"
    busy = PhaseRun(phase="rate", records=recs, wall_s=10, interrupted=False, processes=1,
                    generator_meta=[{"cpu_share": 0.97, "cpu_s": 9.7}])
    assert generator_health(busy, figures, plan).bottleneck == "generator"


def test_a_leak_is_projected_to_100k_requests() -> None:
    model = local_model()
    figures, _ = judge(model, records(1000, leak_mb=0.01))
    growth = {c.key: c for c in slo_checks(figures, model, tolerance=0.95)}["memory_growth"]
    # memory now: the median of the last 50 samples, 109.7 MB; then 99k more requests x 10 KB
    assert "about 1,099.7 MB after 100,000 requests" in growth.detail
