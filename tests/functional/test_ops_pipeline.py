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
