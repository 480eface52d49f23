"""The gate end to end with real locust processes, against the loopback helper target.

tests/helpers/loadtest_target.py speaks the runtime's response shape with deterministic faults.
The same scenarios against the real emulator are in test_loadtest_emulator.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.credentials import Credentials

from deployer.loadtest.plan import Overrides, resolve_plan
from deployer.loadtest.report import write_report
from deployer.loadtest.session import LoadTestResult, run_load_test
from tests.helpers.loadtest_target import Faults, Target, loadtest_target, local_model, write_inputs

pytestmark = [pytest.mark.timeout(60), pytest.mark.slow]


def run(tmp_path: Path, target: Target, *, rps: float = 100, duration_s: float = 3, users: int = 30,
        workers: int = 1, concurrency: tuple[int, ...] = (), sign: str = "auto", **model_changes: object
        ) -> LoadTestResult:
    inputs = write_inputs(tmp_path / "inputs.jsonl")
    model = local_model(**model_changes)
    plan = resolve_plan(model, Overrides(rps=rps, duration_s=duration_s, users=users, workers=workers,
                                         input_file=str(inputs), target_url=target.url, sign=sign,
                                         concurrency=concurrency, report_dir=str(tmp_path / "report")))
    return run_load_test(plan)


def statuses(result: LoadTestResult) -> dict[str, str]:
    return {c.key: c.status for c in result.checks}


def test_healthy_agent_passes_and_the_report_holds_every_figure(tmp_path: Path) -> None:
    with loadtest_target() as target:
        result = run(tmp_path, target)
    assert result.passed, {c.key: (c.status, c.value, c.threshold) for c in result.checks if c.status != "pass"}
    assert result.figures.requests == 300
    assert target.state.count == 300 + 5  # the warm-up is sent, not judged
    assert len(result.warmup) == 5
    assert result.generator.bottleneck == "none"
    files = write_report(result)
    data = json.loads(files.json_path.read_text())
    assert data["passed"] is True
    assert data["figures"]["latency_p99_ms"] == result.figures.latency_p99_ms
    assert {c["key"] for c in data["checks"]} >= {"latency_p99", "error_rate", "memory_growth", "cost_per_request"}
    assert len(data["checklist"]) == 10
    html = files.html_path.read_text()
    assert "PASSED" in html and html.count("data:image/png;base64,") == 4


def test_injected_errors_fail_on_error_rate(tmp_path: Path) -> None:
    with loadtest_target(Faults(error_rate=0.05)) as target:
        result = run(tmp_path, target)
    assert statuses(result)["error_rate"] == "fail"
    assert result.figures.failed == 15
    assert result.figures.errors_by_type == {"500 InjectedFault": 15}
    assert not result.passed


def test_injected_latency_fails_p99(tmp_path: Path) -> None:
    with loadtest_target(Faults(slow_every=20, slow_ms=700)) as target:
        result = run(tmp_path, target, users=40)
    status = statuses(result)
    assert status["latency_p99"] == "fail"
    assert status["latency_p50"] == "pass"


def test_memory_leak_fails_on_growth(tmp_path: Path) -> None:
    with loadtest_target(Faults(leak_kb=64)) as target:
        result = run(tmp_path, target)
    assert statuses(result)["memory_growth"] == "fail"
    growth = result.figures.memory_growth_mb_per_10k
    assert growth is not None and abs(growth - 625.0) < 10  # 64 KB x 10k requests


def test_cost_breach_fails_on_cost(tmp_path: Path) -> None:
    with loadtest_target(Faults(cost_usd=0.001)) as target:
        result = run(tmp_path, target)
    assert statuses(result)["cost_per_request"] == "fail"
    assert result.figures.cost_per_1000_usd == pytest.approx(1.0)


def test_too_few_samples_are_reported_as_such(tmp_path: Path) -> None:
    with loadtest_target() as target:
        result = run(tmp_path, target, rps=50, duration_s=1)
    assert result.figures.requests == 50
    assert statuses(result)["latency_p99"] == "not enough samples"
    assert not result.passed


def test_workers_split_the_rate_and_the_inputs(tmp_path: Path) -> None:
    with loadtest_target() as target:
        result = run(tmp_path, target, rps=200, duration_s=2, workers=2)
    assert result.figures.requests == 400
    assert {r.worker for r in result.records} == {"0", "1"}
    assert result.generator.processes == 2


def test_concurrency_sweep_reports_each_level(tmp_path: Path) -> None:
    with loadtest_target() as target:
        result = run(tmp_path, target, rps=100, duration_s=2, concurrency=(5, 20),
                     load={"duration_s": 2})
    assert [v.level for v in result.levels] == [5, 20]
    assert all(v.succeeded > 0 and v.failed == 0 and v.timed_out == 0 for v in result.levels)
    assert result.max_concurrency == 20, [v.why for v in result.levels]


def test_requests_are_sigv4_signed_for_iam_auth(tmp_path: Path) -> None:
    credentials = Credentials("testing", "testing", "testing")
    with loadtest_target(credentials=credentials, region="us-east-1") as target:
        result = run(tmp_path, target, rps=50, duration_s=1, sign="always")
    assert target.state.rejected == 0
    assert result.figures.ok == 50


def test_unsigned_requests_to_an_iam_target_fail(tmp_path: Path) -> None:
    with loadtest_target(credentials=Credentials("testing", "testing", "testing")) as target:
        result = run(tmp_path, target, rps=50, duration_s=1, sign="never")
    assert target.state.rejected == 50 + 5  # with the warm-up
    assert result.figures.errors_by_type == {"HTTP 403": 50}
