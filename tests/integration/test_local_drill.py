"""The rollback drill, unattended, for every strategy; and once with the real agent bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.local import Faults
from deployer.local.bundles.testkit import build_echo_bundle
from deployer.local.front.drill import STRATEGIES, format_report, quality_fault, run_drill
from tests.helpers.receivers import flagship_local

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    return flagship_local()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_drill_rolls_back_a_faulty_version_for_each_strategy(model, strategy, tmp_path):
    report = run_drill(model, faults=Faults(error_rate=0.5), strategy=strategy, time_scale=120, rps=250,
                       state_dir=tmp_path, bundle_builder=build_echo_bundle, max_wall_s=90)
    text = "\n".join(format_report(report))
    assert report.ok, text
    assert report.rollout_status == "rolled_back"
    assert report.final_routing == {"primary": report.stable_version, "additional": {}}
    assert report.faulty_requests > 0 and report.faulty_errors > 0
    assert report.alarms_fired and all(a["alarm"] for a in report.alarms_fired)
    assert report.within_bound, text  # one alarm window + one evaluation after the fault began
    assert "fault began" in text and "rolled back" in text


@pytest.mark.slow
def test_drill_with_latency_fault_is_caught_by_a_percentile_alarm_with_enough_samples(tmp_path):
    # A percentile over too few samples keeps its state (EvaluateLowSampleCountPercentile: ignore), so
    # the latency gate is a p90 (100 samples a period) and the new version takes all the traffic.
    spec = (ROOT / "agent.yaml").read_text().replace("  alarms: []", "  alarms: [slow]").replace(
        "alerts:\n", "alerts:\n  slow: {kind: latency, statistic: p90, threshold: 200, window: 60s, "
                      "action: slack_notification}\n", 1)
    (tmp_path / "agent.yaml").write_text(spec)
    for name in ("samples",):
        (tmp_path / name).symlink_to(ROOT / name)
    model = flagship_local(tmp_path / "agent.yaml")
    report = run_drill(model, faults=Faults(latency_ms=300), strategy="all_at_once", time_scale=10, rps=100,
                       state_dir=tmp_path / "state", bundle_builder=build_echo_bundle, max_wall_s=90)
    text = "\n".join(format_report(report))
    assert report.ok, text
    assert any(a["alarm"] == "canary-slow" for a in report.alarms_fired), text


@pytest.mark.slow
def test_drill_fails_when_the_fault_is_not_caught(model, tmp_path):
    # cost alarms do not gate the rollout in agent.yaml: the faulty version is promoted, the drill fails
    report = run_drill(model, faults=Faults(cost_multiplier=3), strategy="all_at_once", time_scale=240, rps=150,
                       state_dir=tmp_path, bundle_builder=build_echo_bundle, max_wall_s=60)
    assert not report.ok
    assert report.rollout_status == "succeeded" and report.verdict.startswith("FAIL")


@pytest.mark.slow
def test_default_drill_on_the_real_agent_bundle(model, tmp_path):
    report = run_drill(model, faults=Faults(error_rate=0.3), time_scale=60, rps=200, state_dir=tmp_path,
                       max_wall_s=120)
    text = "\n".join(format_report(report))
    assert report.ok, text
    assert report.wall_s < 60, text


@pytest.mark.slow
def test_drill_fails_when_the_healthy_baseline_itself_is_in_alarm(tmp_path):
    # an alert the healthy version breaches (any latency above 0 ms): a rollback would prove nothing
    spec = (ROOT / "agent.yaml").read_text().replace(
        "alerts:\n", "alerts:\n  always: {kind: latency, statistic: p50, threshold: 0, window: 60s, "
                     "action: slack_notification, rollback: false}\n", 1)
    (tmp_path / "agent.yaml").write_text(spec)
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    model = flagship_local(tmp_path / "agent.yaml")
    report = run_drill(model, faults=Faults(error_rate=0.5), strategy="canary", time_scale=120, rps=150,
                       state_dir=tmp_path / "state", bundle_builder=build_echo_bundle, max_wall_s=60)
    assert not report.ok
    assert report.verdict.startswith("FAIL: the healthy version 1 is not healthy before the fault"), report.verdict
    assert "always" in report.verdict and report.faulty_version is None  # the faulty version was never deployed


@pytest.mark.slow
def test_a_version_whose_answers_are_wrong_passes_every_alarm_and_the_quality_gate_rolls_it_back(model, tmp_path):
    """`deployer drill --fault quality`: fast, error-free, confident and wrong; caught by the online gate."""
    confuse = quality_fault(model)
    assert confuse.startswith("team:") and confuse.split(":", 1)[1].count("=") == 1
    report = run_drill(model, faults=Faults(confuse=confuse), time_scale=60, rps=300, state_dir=tmp_path,
                       max_wall_s=120)
    text = "\n".join(format_report(report))
    assert report.ok, text
    assert report.caught_by == "quality" and "caught by: quality" in text
    assert report.faulty_errors == 0 and not report.alarms_fired, text  # no error or latency alarm saw it
    rollback = next(e for e in report.timeline if e["kind"] == "rollback")
    assert "quality: the distribution of team" in rollback["message"]


def test_the_quality_fault_needs_an_online_gate_on_a_label_field(model):
    from dataclasses import replace

    from deployer.errors import DeployerError

    with pytest.raises(DeployerError, match="online quality gate") as raised:
        quality_fault(replace(model, rollout=replace(model.rollout, quality=None)))
    assert "evaluation.online" in (raised.value.hint or "")
