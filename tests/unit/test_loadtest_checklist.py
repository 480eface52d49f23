"""The pre-production checklist: what each item measured, what a person must confirm, and no ✓ for free."""

from __future__ import annotations

import dataclasses
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.loadtest.checklist import LOGGING, REAL_DATA, SCALE, ChecklistItem, checklist
from deployer.loadtest.gate import LevelVerdict, level_verdict, slo_checks
from deployer.loadtest.summary import Figures, InputCoverage, input_coverage, summarize
from tests.helpers.loadtest_target import local_model
from tests.unit.test_loadtest_gate import judge, records

COVERAGE = InputCoverage(path="/data/inputs.jsonl", lines=50, distribution="uniform", weight_field=None,
                         requests=1000, distinct_sent=7, top_input_share_pct=14.3)


def items(model: DeploymentModel, figures: Figures, levels: tuple[LevelVerdict, ...] = (),
          inputs: InputCoverage | None = COVERAGE, **kwargs: Any) -> dict[str, ChecklistItem]:
    checks = slo_checks(figures, model, tolerance=0.95)
    return {i.item: i for i in checklist(model, figures, checks, levels, inputs=inputs, **kwargs)}


def sweep(model: DeploymentModel, **levels: bool) -> tuple[LevelVerdict, ...]:
    """levels like c5=True, c100=False: a level that met the SLOs or one whose requests failed."""
    out = []
    for name, good in levels.items():
        recs = records(300) if good else records(300, failed_every=5)
        figures = summarize(recs, asked_rps=None, planned_s=3, expected_requests_per_month=1, confidence_threshold=None)
        out.append(level_verdict(int(name[1:]), figures, model))
    return tuple(out)


def with_monitoring(model: DeploymentModel, **changes: Any) -> DeploymentModel:
    actions = tuple(dataclasses.replace(a, monitoring=dataclasses.replace(a.monitoring, **changes))
                    for a in model.actions)
    return dataclasses.replace(model, actions=actions)


def test_every_item_says_what_was_measured_and_what_to_confirm() -> None:
    model = local_model()
    figures, _ = judge(model, records(1000))
    listed = items(model, figures)
    assert len(listed) == 10
    assert all(i.measured and i.confirm for i in listed.values()), [i for i in listed.values() if not i.confirm]
    assert listed["p99 latency is acceptable"].status == "passed"
    assert listed["You can rollback in <5 minutes"].status == "not measured"
    assert "deployer drill" in listed["You can rollback in <5 minutes"].confirm
    assert listed["All edge cases from monitoring are handled"].status == "not measured"


def test_a_failed_concurrency_sweep_fails_the_scale_item_though_10x_the_average_held() -> None:
    model = local_model()  # 120k requests/month: 10x the average is 0.46 rps; 100 rps were held
    figures, status = judge(model, records(1000))
    assert set(status.values()) == {"pass"}
    scale = items(model, figures, sweep(model, c5=True, c100=False))[SCALE]
    assert scale.status == "failed"
    assert "concurrency sweep failed at 100 concurrent (error rate 20.00% > 1%)" in scale.measured
    assert "highest level meeting the SLOs: 5" in scale.measured


def test_10x_the_average_without_a_peak_is_measured_and_left_to_confirm() -> None:
    model = local_model()
    figures, _ = judge(model, records(1000))
    scale = items(model, figures, sweep(model, c5=True, c20=True))[SCALE]
    assert scale.status == "confirm"
    assert "held 100.0 rps within the SLOs = 2,160x the expected average 0.0463 rps" in scale.measured
    assert "the spec gives no peak" in scale.measured
    assert "every level up to 20 concurrent met the SLOs" in scale.measured
    assert scale.confirm.startswith("that 10x your peak is at most")


def test_below_10x_the_average_the_scale_item_is_not_measured() -> None:
    model = local_model(cost={"expected_requests_per_month": 30 * 86400 * 50.0})  # 50 rps on average
    figures, _ = judge(model, records(1000))
    scale = items(model, figures)[SCALE]
    assert scale.status == "not measured"
    assert "below 10x the expected average (500.00 rps" in scale.measured


def test_with_a_peak_the_scale_item_passes_only_at_10x_that_peak() -> None:
    model = local_model()
    figures, _ = judge(model, records(1000))
    assert items(model, figures, peak_rps=5.0)[SCALE].status == "passed"
    short = items(model, figures, peak_rps=20.0)[SCALE]
    assert short.status == "not measured" and "raise --rps to at least 200.0" in short.confirm


def test_an_input_file_is_described_and_its_realness_left_to_a_person() -> None:
    model = local_model()
    figures, _ = judge(model, records(1000))
    coverage = input_coverage(records(1000), path="/data/inputs.jsonl", lines=50, distribution="uniform",
                              weight_field=None)
    real = items(model, figures, inputs=coverage)[REAL_DATA]
    assert real.status == "confirm"
    assert "7 distinct inputs of the 50 in /data/inputs.jsonl were sent (uniform)" in real.measured
    assert "the most frequent made 14.3% of 1,000 requests" in real.measured
    assert "43 lines were never sent" in real.measured
    assert "real production inputs" in real.confirm
    assert items(model, figures, inputs=None)[REAL_DATA].status == "failed"


def test_sampled_logging_says_what_share_of_decisions_is_visible() -> None:
    model = with_monitoring(local_model(), sample_rate=0.1)
    figures, _ = judge(model, records(1000))
    logging = items(model, figures)[LOGGING]
    assert logging.status == "confirm"
    assert "90% of successful decisions leave no input/output" in logging.measured
    assert "errors always" in logging.measured


def test_logging_passes_only_with_errors_and_every_input_and_output_kept() -> None:
    full = with_monitoring(local_model(), sample_rate=1.0, log_inputs=True, log_outputs=True, log_errors=True)
    figures, _ = judge(full, records(1000))
    assert items(full, figures)[LOGGING].status == "passed"
    no_errors = with_monitoring(full, log_errors=False)
    assert items(no_errors, figures)[LOGGING].status == "failed"
    nothing_kept = with_monitoring(full, sample_rate=0.0)
    assert items(nothing_kept, figures)[LOGGING].status == "failed"


def test_real_data_is_ticked_only_by_a_passed_evaluation_on_the_declared_set() -> None:
    model = local_model()
    assert model.evaluation is not None  # the flagship declares its held-out set
    figures, _ = judge(model, records(1000))
    report = {"data": model.evaluation.data_file, "examples": 300, "passed": True, "reasons": [],
              "candidate": {"accuracy": 0.957}}
    real = items(model, figures, evaluation=report)[REAL_DATA]
    assert real.status == "passed" and "300 labelled examples, accuracy 0.957" in real.measured
    failed = items(model, figures, evaluation={**report, "passed": False, "reasons": ["accuracy dropped 0.08"]})
    assert failed[REAL_DATA].status == "failed" and "accuracy dropped 0.08" in failed[REAL_DATA].measured
    other_set = items(model, figures, evaluation={**report, "data": "/elsewhere.jsonl"})[REAL_DATA]
    assert other_set.status == "confirm" and "deployer eval --env local" in other_set.confirm
