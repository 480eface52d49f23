"""`deployer plan`, `schema` and `init` through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOYER = str(Path(sys.executable).parent / "deployer")


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DEPLOYER, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_plan_json_shows_alarms_rollout_and_load_profile_for_one_environment() -> None:
    result = run("plan", "--env", "production", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["environment"] == "production"
    assert plan["function"]["memory_mb"] == 1024
    assert plan["function"]["provisioned_concurrency"] == 2
    assert [s["percent"] for s in plan["rollout"]["steps"]] == [5, 50, 100]
    assert plan["rollout"]["engine"] == "stepfunctions"
    assert plan["monitoring"]["sample_rate"] == 0.05
    names = {a["name"] for a in plan["alarms"]}
    assert {"error_rate_spike", "latency_spike", "cost_spike"} <= names


def test_plan_for_people_names_every_part() -> None:
    result = run("plan", "--env", "staging")
    assert result.returncode == 0, result.stderr
    for part in ("function", "alias", "alarms", "rollout", "notifications", "load test", "cost"):
        assert part in result.stdout


def test_plan_of_an_unknown_environment_lists_the_defined_ones() -> None:
    result = run("plan", "--env", "prod")
    assert result.returncode == 1
    assert "no environment 'prod'" in result.stderr and "production" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_spec_file_says_how_to_start() -> None:
    result = run("validate", "--spec", "nope.yaml")
    assert result.returncode == 1
    assert "nope.yaml: no such file" in result.stderr and "deployer init" in result.stderr


def test_usage_errors_exit_2() -> None:
    assert run("plan").returncode == 2


def test_schema_prints_json_schema() -> None:
    result = run("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "agent.yaml"


def test_init_scaffolds_an_agent_that_validates(tmp_path: Path) -> None:
    result = run("init", "ticket-triage", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    created = tmp_path / "ticket-triage"
    assert {p.name for p in created.iterdir()} >= {"agent.yaml", "ticket_triage.py", "ticket_triage_model.py", "tests"}
    check = run("validate", "--spec", str(created / "agent.yaml"), cwd=tmp_path)
    assert check.returncode == 0, check.stderr + check.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(created / "tests")],
                           cwd=created, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


def test_init_refuses_a_directory_with_files(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = run("init", "taken", cwd=tmp_path)
    assert result.returncode == 1 and "not empty" in result.stderr
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("name", ["Bad_Name", "9lives", "x" * 41])
def test_init_rejects_names_unfit_for_resource_names(tmp_path: Path, name: str) -> None:
    result = run("init", name, cwd=tmp_path)
    assert result.returncode == 1 and "not valid" in result.stderr
