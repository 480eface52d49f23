"""`Pipeline` without a running emulator, and the local ops commands when none is running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.errors import DeployerError
from deployer.pipeline import Pipeline
from tests.helpers.agent_fixtures import forget_modules, write_project

ROOT = Path(__file__).resolve().parents[2]
DEPLOYER = str(Path(sys.executable).parent / "deployer")


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEPLOYER_LOCAL_DIR", str(tmp_path / "no-emulator-here"))
    forget_modules()
    return write_project(tmp_path)


def test_pipeline_reads_the_spec_and_compiles_each_environment(spec: Path) -> None:
    pipeline = Pipeline.from_spec(spec)
    assert pipeline.environments == ["local"]
    model = pipeline.model("local")
    assert model.agent == "fixture-agent" and model.target == "local"
    assert pipeline.model("local") is model  # compiled once


def test_pipeline_invoke_without_env_runs_the_agent_in_this_process(spec: Path) -> None:
    result = Pipeline(spec).invoke("echo", {"text": "ab", "times": 2})
    assert result.status == 200
    assert result.body["output"] == {"text": "abab"}  # type: ignore[union-attr]


@pytest.mark.parametrize("call", [
    lambda p: p.inspect_errors("local"),
    lambda p: p.debug("local"),
    lambda p: p.replay_request("local", request_id="req_xyz"),
    lambda p: p.rollback("local"),
    lambda p: p.deploy("local"),
])
def test_pipeline_on_local_without_a_running_emulator_says_how_to_start_one(spec: Path, call: object) -> None:
    with pytest.raises(DeployerError) as caught:
        call(Pipeline(spec))  # type: ignore[operator]
    assert "emulator" in caught.value.message and "deployer local up" in (caught.value.hint or "")


def test_pipeline_with_an_unknown_environment_names_the_known_ones(spec: Path) -> None:
    with pytest.raises(DeployerError) as caught:
        Pipeline(spec).inspect_errors("prod")
    assert "prod" in str(caught.value) and "local" in str(caught.value)


@pytest.mark.parametrize("command", [["errors"], ["replay", "req_xyz"], ["debug"], ["logs"]])
def test_ops_commands_on_local_without_a_running_emulator_say_how_to_start_one(spec: Path, command: list[str]) -> None:
    env = {**os.environ}
    result = subprocess.run([DEPLOYER, *command, "--spec", str(spec), "--env", "local"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stderr
    assert "no local emulator is running for environment 'local'" in result.stderr
    assert "deployer local up" in result.stderr


def test_replay_needs_a_request_id_or_last(spec: Path) -> None:
    result = subprocess.run([DEPLOYER, "replay", "--spec", str(spec), "--env", "local"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "give a REQUEST_ID or --last N" in result.stderr


# -- the Python API as people who think in calls write it --------------------------------------------
def _fixture_class(spec: Path) -> type:
    import importlib.util

    source = spec.parent / "code" / "fixture_agent.py"
    module_spec = importlib.util.spec_from_file_location("fixture_agent", source)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["fixture_agent"] = module
    module_spec.loader.exec_module(module)
    return module.FixtureAgent  # type: ignore[no-any-return]


def test_pipeline_built_from_an_agent_class_finds_the_spec_that_names_it(spec: Path) -> None:
    agent_class = _fixture_class(spec)
    pipeline = Pipeline(agent_class)
    assert pipeline.spec_path == spec.resolve()
    assert pipeline.model("local").agent == "fixture-agent"


def test_pipeline_built_from_a_class_no_spec_names_explains_how_to_point_at_it(tmp_path: Path) -> None:
    class Elsewhere:
        pass

    with pytest.raises(DeployerError) as caught:
        Pipeline(Elsewhere)
    assert "no agent.yaml names" in caught.value.message and "Elsewhere" in caught.value.message
    assert 'Pipeline("path/to/agent.yaml")' in (caught.value.hint or "")


def test_rollout_policy_keywords_name_the_agent_yaml_keys_to_set(spec: Path) -> None:
    with pytest.raises(DeployerError) as caught:
        Pipeline(spec).rollout(initial_traffic=5, increase_every=300, final_traffic=100, abort_if_error_rate=2)
    assert "policy lives in agent.yaml" in caught.value.message
    hint = caught.value.hint or ""
    for line in ("rollout:", "strategy: linear", "step_percent: 5", "interval: 300s", "error_rate_pct: 2"):
        assert line in hint, hint


def test_alert_policy_keywords_name_the_agent_yaml_keys_to_set(spec: Path) -> None:
    with pytest.raises(DeployerError) as caught:
        Pipeline(spec).alerts(on_error_rate_spike={"threshold": 2, "window": 60, "action": "page_oncall"},
                              on_latency_spike={"threshold": 2000, "window": 60, "action": "page_oncall"})
    hint = caught.value.hint or ""
    for line in ("alerts:", "error_rate_spike:", "kind: error_rate", "latency_spike:", "kind: latency", "window: 60s",
                 "action: page_oncall", "notifications:"):
        assert line in hint, hint


def test_monitor_keywords_name_the_slos_to_set(spec: Path) -> None:
    with pytest.raises(DeployerError) as caught:
        Pipeline(spec).monitor(metrics=["latency_p50", "error_rate"],
                               alerts={"latency_p99 > 2000ms": "WARNING", "error_rate > 1%": "CRITICAL"})
    hint = caught.value.hint or ""
    assert "slos:" in hint and "latency_p99_ms: 2000" in hint and "error_rate_pct: 1" in hint


def test_a_load_test_value_with_another_distribution_says_where_it_is_set(spec: Path) -> None:
    from deployer.pipeline import LoadTest

    with pytest.raises(DeployerError) as caught:
        Pipeline(spec).run_load_test(LoadTest(requests_per_second=100, duration_seconds=300,
                                              input_distribution="weighted"))
    assert "load_test" in caught.value.message and "distribution: weighted" in (caught.value.hint or "")
