"""Valid specs compile to the numbers a deployment needs: schedules, engines, alarms, costs, hashes."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from deployer.compiled import DeploymentModel
from deployer.compiler import compile_all, compile_environment, deep_merge, resolve_environment
from deployer.errors import SpecError
from deployer.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SECONDS_PER_MONTH = 30 * 86400

HEAD = """\
name: demo-agent
code:
  entrypoint: agent:Agent
model:
  provider: python
  id: model:load
actions:
  answer: {}
"""
ONCALL = """\
notifications:
  oncall: {type: email, addresses: [oncall@example.com]}
"""
STAGING = """\
environments:
  staging: {}
"""


def write(tmp_path: Path, *parts: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text("".join(textwrap.dedent(p) for p in parts), encoding="utf-8")
    return path


def compiled(tmp_path: Path, *parts: str, env: str = "staging") -> DeploymentModel:
    return compile_environment(load_spec(write(tmp_path, *parts)), env)


def steps(model: DeploymentModel) -> list[tuple[float, int]]:
    return [(s.percent, s.bake_s) for s in model.rollout.steps]


# --- rollout schedules and the engine that runs them -------------------------------------------


def test_canary_is_two_steps_and_needs_evidence_so_it_runs_on_step_functions(tmp_path: Path) -> None:
    model = compiled(tmp_path, HEAD, "rollout: {strategy: canary, initial_percent: 10, bake: 5m}\n", STAGING)
    assert steps(model) == [(10, 300), (100, 0)]
    assert (model.rollout.engine, model.rollout.codedeploy) == ("stepfunctions", None)
    assert model.rollout.min_requests_per_step == 100  # the default: no promotion without evidence
    assert model.rollout.total_bake_s == 300


def test_a_canary_without_evidence_runs_on_a_codedeploy_canary_config(tmp_path: Path) -> None:
    rollout = "rollout: {strategy: canary, initial_percent: 10, bake: 5m, min_requests_per_step: 0}\n"
    model = compiled(tmp_path, HEAD, rollout, STAGING)
    assert model.rollout.engine == "codedeploy"
    config = model.rollout.codedeploy
    assert config is not None
    assert (config.kind, config.percentage, config.interval_minutes) == ("canary", 10, 5)
    assert config.name == "demo-agent-staging-canary-10pct-5min"
    # CodeDeploy stops watching when the shift completes and holds each step for its bake alone
    assert (model.rollout.watch_s, model.rollout.evaluation_delay_s, model.rollout.evidence) == (0, 0, ())
    assert [(s.hold_limit_s, s.min_requests) for s in model.rollout.steps] == [(300, 0), (0, 0)]
    assert any("min_requests_per_step is 0" in w for w in model.warnings)


def test_linear_steps_up_by_step_percent_every_interval_on_a_codedeploy_linear_config(tmp_path: Path) -> None:
    rollout = "rollout: {strategy: linear, step_percent: 25, interval: 2m, min_requests_per_step: 0}\n"
    model = compiled(tmp_path, HEAD, rollout, STAGING)
    assert steps(model) == [(25, 120), (50, 120), (75, 120), (100, 0)]
    assert model.rollout.engine == "codedeploy"
    config = model.rollout.codedeploy
    assert config is not None
    assert (config.kind, config.percentage, config.interval_minutes) == ("linear", 25, 2)


def test_a_fractional_percent_is_never_rounded_for_codedeploy_it_runs_on_step_functions(tmp_path: Path) -> None:
    rollout = "rollout: {strategy: canary, initial_percent: 2.5, bake: 5m, min_requests_per_step: 0}\n"
    model = compiled(tmp_path, HEAD, rollout, STAGING)
    assert (model.rollout.engine, model.rollout.codedeploy) == ("stepfunctions", None)
    assert steps(model) == [(2.5, 300), (100, 0)]


def test_all_at_once_is_one_step_at_100(tmp_path: Path) -> None:
    model = compiled(tmp_path, HEAD, "rollout: {strategy: all_at_once}\n", STAGING)
    assert [(s.percent, s.bake_s) for s in model.rollout.steps] == [(100, 0)]
    assert model.rollout.engine == "stepfunctions"  # it still watches the new version after the shift


def test_an_uneven_step_list_runs_on_step_functions(tmp_path: Path) -> None:
    rollout = """\
    rollout:
      strategy: steps
      steps: [{percent: 5, bake: 5m}, {percent: 50, bake: 5m}, {percent: 100}]
      min_requests_per_step: 0
    """
    model = compiled(tmp_path, HEAD, rollout, STAGING)
    assert steps(model) == [(5, 300), (50, 300), (100, 0)]
    assert (model.rollout.engine, model.rollout.codedeploy) == ("stepfunctions", None)


def test_a_two_step_list_with_a_whole_minute_bake_becomes_a_codedeploy_canary(tmp_path: Path) -> None:
    rollout = "rollout: {strategy: steps, steps: [{percent: 20, bake: 3m}, {percent: 100}], min_requests_per_step: 0}\n"
    model = compiled(tmp_path, HEAD, rollout, STAGING)
    config = model.rollout.codedeploy
    assert config is not None
    assert (model.rollout.engine, config.kind, config.percentage, config.interval_minutes) == ("codedeploy", "canary", 20, 3)


def test_a_step_list_of_equal_increments_and_bakes_becomes_a_codedeploy_linear(tmp_path: Path) -> None:
    rollout = """\
    rollout:
      strategy: steps
      steps: [{percent: 25, bake: 1m}, {percent: 50, bake: 1m}, {percent: 75, bake: 1m}, {percent: 100}]
      min_requests_per_step: 0
    """
    model = compiled(tmp_path, HEAD, rollout, STAGING)
    config = model.rollout.codedeploy
    assert config is not None
    assert (config.kind, config.percentage, config.interval_minutes) == ("linear", 25, 1)


def test_a_bake_that_is_not_whole_minutes_runs_on_step_functions(tmp_path: Path) -> None:
    rollout = "rollout: {strategy: steps, steps: [{percent: 20, bake: 90s}, {percent: 100}], min_requests_per_step: 0}\n"
    model = compiled(tmp_path, HEAD, rollout, STAGING)
    assert (model.rollout.engine, model.rollout.codedeploy) == ("stepfunctions", None)
    assert steps(model) == [(20, 90), (100, 0)]


# --- the evidence each step needs ----------------------------------------------------------------

EVIDENCE = """\
slos: {error_rate_pct: 1, latency_p99_ms: 800}
rollout:
  strategy: steps
  steps: [{percent: 5, bake: 5m}, {percent: 50, bake: 30m}, {percent: 100}]
  abort: {error_rate_pct: 2, latency_p99_ms: 900, period: 1m, evaluation_periods: 3, datapoints_to_alarm: 2}
"""


def test_every_rollout_number_is_decided_by_the_compiler(tmp_path: Path) -> None:
    r = compiled(tmp_path, HEAD, EVIDENCE, STAGING).rollout
    assert r.gating_alarms == ("abort-error-rate", "abort-latency-p99")
    assert [(w.alarms, w.period_s, w.window_s) for w in r.evidence] == [(("abort-error-rate", "abort-latency-p99"), 60, 180)]
    assert (r.check_interval_s, r.evaluation_delay_s) == (60, 120)
    # evidence can exist at the earliest one period + one window + the delay after a shift (360 s):
    # a step holds at most twice its bake, and at least 15 minutes past that
    assert [(s.hold_limit_s, s.min_requests) for s in r.steps] == [(360 + 900, 100), (3600, 100), (0, 0)]
    assert r.watch_s == 180 + 120  # the longest gating window, then its evaluation
    assert r.max_duration_s == 1260 + 3600 + 300 + 900


def test_a_long_hold_counts_traffic_in_periods_that_fit_one_query(tmp_path: Path) -> None:
    rollout = "rollout: {strategy: steps, steps: [{percent: 5, bake: 2d}, {percent: 100}]}\n"
    step = compiled(tmp_path, HEAD, rollout, STAGING).rollout.steps[0]
    assert step.hold_limit_s == 4 * 86400
    assert step.hold_limit_s / step.metric_period_s <= 1440  # GetMetricStatistics' datapoint limit


def test_a_policy_the_expected_traffic_cannot_evidence_warns_with_the_figures(tmp_path: Path) -> None:
    env = """\
    environments:
      production:
        expected_traffic: {requests_per_day: 4000}
    """
    model = compiled(tmp_path, HEAD, EVIDENCE, env, env="production")
    first = next(w for w in model.warnings if "step 1 (5%)" in w)
    assert "rollout.steps[0].bake" in first and "4,000 requests/day" in first
    assert "about 2.9 requests" in first and "min_requests_per_step (100)" in first and "bake at least 12h" in first


def test_a_load_test_rate_counts_as_the_traffic_a_rollout_gets(tmp_path: Path) -> None:
    env = """\
    environments:
      staging:
        expected_traffic: {requests_per_day: 4000}
        load_test: {rps: 50}
    """
    assert not [w for w in compiled(tmp_path, HEAD, EVIDENCE, env).warnings if "evidence" in w]


def test_the_flagship_production_policy_can_get_its_evidence() -> None:
    model = compile_environment(load_spec(ROOT / "agent.yaml"), "production")
    assert model.rollout.min_requests_per_step >= 100
    assert not [w for w in model.warnings if "evidence" in w]


# --- alarms --------------------------------------------------------------------------------------

ALERTS = """\
slos: {error_rate_pct: 1, latency_p99_ms: 800, cost_per_request_usd: 0.001}
alerts:
  errors: {kind: error_rate, threshold: 2, action: oncall}
  slow: {kind: latency, threshold: 1500, action: oncall}
  drift: {kind: confidence_drop, threshold: 0.5, window: 5m, action: oncall, rollback: false}
"""


def test_by_default_the_slo_alarms_and_alerts_with_rollback_gate_the_rollout(tmp_path: Path) -> None:
    model = compiled(tmp_path, HEAD, ALERTS, ONCALL, STAGING)
    assert model.rollout.gating_alarms == ("slo-error-rate", "slo-latency-p99", "slo-cost-per-request", "canary-errors",
                                           "canary-slow")
    slo = model.alarm("slo-latency-p99")
    assert slo is not None and (slo.threshold, slo.statistic, slo.period_s) == (800, "p99", 60)
    drift = model.alarm("drift")
    assert drift is not None and not drift.gates_rollout and drift.comparison == "LessThanThreshold"


def test_abort_conditions_replace_the_slo_alarms_as_rollback_gates(tmp_path: Path) -> None:
    rollout = "rollout: {strategy: canary, abort: {error_rate_pct: 3, period: 1m, evaluation_periods: 2}}\n"
    model = compiled(tmp_path, HEAD, ALERTS, ONCALL, rollout, STAGING)
    assert model.rollout.gating_alarms == ("abort-error-rate", "canary-errors", "canary-slow")
    abort = model.alarm("abort-error-rate")
    assert abort is not None
    assert (abort.threshold, abort.period_s, abort.evaluation_periods, abort.window_s) == (3, 60, 2, 120)


def test_rollout_alarms_lists_the_alerts_that_gate_instead_of_rollback_flags(tmp_path: Path) -> None:
    rollout = "rollout: {strategy: canary, alarms: [drift]}\n"
    model = compiled(tmp_path, HEAD, ALERTS, ONCALL, rollout, STAGING)
    assert model.rollout.gating_alarms == ("slo-error-rate", "slo-latency-p99", "slo-cost-per-request", "canary-drift")


def test_a_cost_spike_threshold_is_the_multiple_of_the_budget_spent_in_one_period() -> None:
    model = compile_environment(load_spec(ROOT / "agent.yaml"), "production")
    alarm = model.alarm("cost_spike")
    assert alarm is not None
    # threshold 1.5 x budget $50/month x a 1h period / 30 days
    assert alarm.threshold == pytest.approx(1.5 * 50 * 3600 / SECONDS_PER_MONTH)
    assert alarm.threshold == pytest.approx(0.1041666667)
    assert (alarm.period_s, alarm.statistic, alarm.gates_rollout) == (3600, "Sum", False)


def test_a_cost_spike_threshold_follows_the_budget_of_the_environment(tmp_path: Path) -> None:
    spec = """\
    alerts:
      spend: {kind: cost_spike, threshold: 2, window: 10m, action: oncall, rollback: false}
    budget: {monthly_usd: 300}
    environments:
      staging: {}
      production:
        budget: {monthly_usd: 900}
    """
    models = compile_all(load_spec(write(tmp_path, HEAD, ONCALL, spec)))
    thresholds = {env: m.alarm("spend").threshold for env, m in models.items()}  # type: ignore[union-attr]
    assert thresholds["staging"] == pytest.approx(2 * 300 * 600 / SECONDS_PER_MONTH)
    assert thresholds["production"] == pytest.approx(2 * 900 * 600 / SECONDS_PER_MONTH)


# --- environment overrides ----------------------------------------------------------------------


def test_deep_merge_merges_mappings_and_replaces_everything_else() -> None:
    base = {"sample_rate": 1.0, "redaction": ["email"], "nested": {"a": 1, "b": 2}}
    override = {"sample_rate": 0.05, "redaction": ["phone"], "nested": {"b": 3}}
    assert deep_merge(base, override) == {"sample_rate": 0.05, "redaction": ["phone"], "nested": {"a": 1, "b": 3}}
    assert base["nested"] == {"a": 1, "b": 2}, "the base is not modified"


def test_deep_merge_replaces_a_section_whose_kind_changes() -> None:
    base = {"provider": "ollama", "id": "llama3.1:8b", "endpoint": "https://ollama.example.com"}
    assert deep_merge(base, {"provider": "bedrock", "id": "anthropic.claude"}) == {
        "provider": "bedrock",
        "id": "anthropic.claude",
    }


def test_a_model_provider_switch_in_an_environment_replaces_the_model_section(tmp_path: Path) -> None:
    spec = """\
    name: demo-agent
    code: {entrypoint: agent:Agent}
    model:
      provider: ollama
      id: llama3.1:8b
      endpoint: https://ollama.example.com
      parameters: {temperature: 0.2}
    actions: {answer: {}}
    environments:
      local: {target: local}
      production:
        region: eu-west-1
        model: {provider: bedrock, id: anthropic.claude-3-haiku-20240307-v1:0}
    """
    models = compile_all(load_spec(write(tmp_path, spec)))
    local, production = models["local"].model, models["production"].model
    assert (local.provider, local.endpoint, local.parameters) == ("ollama", "https://ollama.example.com", {"temperature": 0.2})
    assert (production.provider, production.model_id) == ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0")
    assert (production.endpoint, production.region, production.parameters) == (None, "eu-west-1", {})


def test_a_sample_rate_override_merges_into_the_monitoring_section() -> None:
    models = compile_all(load_spec(ROOT / "agent.yaml"))
    assert models["staging"].monitoring.sample_rate == 0.1
    production = models["production"].monitoring
    assert production.sample_rate == 0.05
    assert production.redaction.builtins == ("email", "phone", "card_number", "iban", "aws_key", "bearer_token", "api_key")
    assert production.log_inputs and production.log_errors
    assert models["production"].function.memory_mb == 1024 and models["staging"].function.memory_mb == 512


def test_an_override_error_points_inside_the_environment_and_hides_no_other_problem(tmp_path: Path) -> None:
    spec = """\
    monitoring: {sample_rate: 0.5}
    alerts:
      errors: {kind: error_rate, threshold: 2, window: 1m, action: oncall}
    environments:
      staging: {}
      production:
        monitoring: {sample_rate: 3}
        alerts:
          errors: {window: 45s}
    """
    path = write(tmp_path, HEAD, ONCALL, spec)
    loaded = load_spec(path)
    _, issues, unsound = resolve_environment(loaded, "production")
    assert [str(i) for i in issues] == [
        f"{loaded.origin.file}:17:31: environments.production.monitoring.sample_rate: must be at most 1, got 3",
    ]
    assert unsound == {("monitoring",)}
    with pytest.raises(SpecError) as caught:
        compile_environment(loaded, "production")
    assert [(i.line, i.col, i.path) for i in caught.value.issues] == [
        (17, 31, "environments.production.monitoring.sample_rate"),
        (19, 24, "environments.production.alerts.errors.window"),  # the sound override is still checked
    ]
    assert compile_environment(loaded, "staging").monitoring.sample_rate == 0.5


def test_a_compile_error_from_an_override_points_inside_the_environment(tmp_path: Path) -> None:
    spec = """\
    alerts:
      errors: {kind: error_rate, threshold: 2, window: 1m, action: oncall}
    environments:
      staging: {}
      production:
        alerts:
          errors: {window: 45s}
    """
    with pytest.raises(SpecError) as caught:
        compile_all(load_spec(write(tmp_path, HEAD, ONCALL, spec)))
    (issue,) = caught.value.issues
    assert (issue.line, issue.col, issue.path) == (17, 24, "environments.production.alerts.errors.window")


# --- spec hash and warnings ----------------------------------------------------------------------


def copy_checkout(target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copy(ROOT / "agent.yaml", target / "agent.yaml")
    return target / "agent.yaml"


def hashes(path: Path) -> dict[str, str]:
    return {env: model.spec_hash for env, model in compile_all(load_spec(path)).items()}


def test_the_spec_hash_is_the_same_in_every_checkout(tmp_path: Path) -> None:
    here = hashes(ROOT / "agent.yaml")
    assert hashes(copy_checkout(tmp_path / "a")) == here
    assert hashes(copy_checkout(tmp_path / "elsewhere" / "b")) == here
    assert len(set(here.values())) == 3, "each environment has its own hash"


def test_the_spec_hash_changes_on_a_config_change_and_not_on_a_comment(tmp_path: Path) -> None:
    path = copy_checkout(tmp_path / "checkout")
    before = hashes(path)
    text = path.read_text(encoding="utf-8")
    path.write_text("# a comment changes nothing\n" + text, encoding="utf-8")
    assert hashes(path) == before
    path.write_text(text.replace("  sample_rate: 0.1 ", "  sample_rate: 0.2 "), encoding="utf-8")
    after = hashes(path)
    assert after["staging"] != before["staging"]
    assert after["production"] == before["production"], "production overrides sample_rate"


def test_a_budget_below_expected_traffic_times_the_cost_slo_warns_but_compiles(tmp_path: Path) -> None:
    spec = """\
    slos: {cost_per_request_usd: 0.001}
    budget: {monthly_usd: 100}
    environments:
      staging:
        expected_traffic: {requests_per_day: 4000}
      quiet:
        expected_traffic: {requests_per_day: 100}
    """
    path = write(tmp_path, HEAD, spec)
    models = compile_all(load_spec(path))
    staging = models["staging"]
    assert staging.cost.expected_requests_per_month == 120_000
    assert staging.cost.projected_monthly_usd == pytest.approx(120.0)
    assert tuple(w for w in staging.warnings if "budget.monthly_usd" in w) == (
        f"{load_spec(path).origin.file}:10:23: budget.monthly_usd: warning: staging: expected traffic (120,000 requests/month) "
        "x cost SLO ($0.001/request) = $120.00/month, over the $100.00 budget",
    )
    assert not [w for w in models["quiet"].warnings if "budget" in w.split(": ", 2)[1]]
    assert models["quiet"].cost.projected_monthly_usd == pytest.approx(3.0)


# --- one run reports every independent problem, and none that a broken section would cause -----


def problems_of(tmp_path: Path, *parts: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        compile_all(load_spec(write(tmp_path, *parts)))
    return [f"{i.path}: {i.message}" for i in caught.value.issues]


def test_a_broken_section_hides_no_problem_of_a_sound_one_and_causes_none(tmp_path: Path) -> None:
    spec = """\
    notifications: 5
    alerts:
      errors: {kind: error_rate, threshold: 5, window: 45s, action: oncall}
    rollout: {strategy: steps, steps: [{percent: 50, bake: 5m}, {percent: 10}]}
    environments:
      staging: {}
    """
    problems = problems_of(tmp_path, HEAD, spec)
    assert [p.split(":")[0] for p in problems] == ["notifications", "alerts.errors.window",
                                                   "rollout.steps[1].percent", "rollout.steps[1].percent"]
    assert not any("not defined" in p for p in problems)  # the alert names a notification of the broken section


def test_an_override_of_a_broken_section_is_not_judged_against_its_stand_in(tmp_path: Path) -> None:
    spec = """\
    rollout: 7
    environments:
      staging:
        rollout: {steps: [{percent: 100}]}
    """
    assert problems_of(tmp_path, HEAD, spec) == ["rollout: expected a mapping of keys, got the number 7"]


def test_an_unknown_override_entry_is_reported_and_the_rest_of_the_environment_still_compiled(tmp_path: Path) -> None:
    spec = """\
    alerts:
      errors: {kind: error_rate, threshold: 5, action: oncall}
    environments:
      staging:
        alerts:
          erors: {threshold: 3}
          errors: {window: 45s}
    """
    problems = problems_of(tmp_path, HEAD, ONCALL, spec)
    assert [p.split(":")[0] for p in problems] == ["environments.staging.alerts.erors", "environments.staging.alerts.errors.window"]
    assert "did you mean 'errors'?" in problems[0]


# --- YAML merge keys -------------------------------------------------------------------------------


def test_a_merge_key_brings_in_the_anchor_and_the_mappings_own_keys_win(tmp_path: Path) -> None:
    spec = """\
    alerts:
      errors: &alert {kind: error_rate, threshold: 5, window: 2m, action: oncall, severity: warning}
      slow:
        <<: *alert
        kind: latency
        threshold: 2000
    """
    model = compile_environment(load_spec(write(tmp_path, HEAD, ONCALL, spec, STAGING)), "staging")
    slow = model.alarm("slow")
    assert slow is not None
    assert (slow.kind, slow.threshold, slow.period_s, slow.severity, slow.notify) == ("latency", 2000, 120, "warning", ("oncall",))


def test_a_problem_in_a_merged_value_is_reported_where_the_anchor_wrote_it(tmp_path: Path) -> None:
    spec = """\
    alerts:
      errors: &alert {kind: error_rate, threshold: 5, window: 45s, action: oncall}
      slow: {<<: *alert, kind: latency}
    """
    with pytest.raises(SpecError) as caught:
        compile_all(load_spec(write(tmp_path, HEAD, ONCALL, spec, STAGING)))
    problems = [(i.line, i.col, i.path) for i in caught.value.issues]
    assert problems == [(12, 59, "alerts.errors.window"), (12, 59, "alerts.slow.window")]
