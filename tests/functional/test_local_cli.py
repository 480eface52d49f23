"""`deployer local up` in the foreground, found by other processes; `deployer drill` exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.local.front.deploy import deploy_local, invoke_local
from deployer.local.front.discovery import find_emulator, state_dir_for
from tests.helpers.agent_fixtures import compile_project, write_project

REPO = Path(__file__).resolve().parents[2]
DEPLOYER = [str(Path(sys.executable).with_name("deployer"))]  # the console script: its exit code is main()'s
ENV = {**os.environ, "PYTHONUNBUFFERED": "1",
       "DEPLOYER_CACHE_DIR": os.environ.get("DEPLOYER_CACHE_DIR") or str(REPO / ".deployer" / "cache")}


def run(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DEPLOYER, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, sample_rate=1.0)


@pytest.fixture()
def running(project: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*DEPLOYER, "local", "up", "--time-scale", "600"], cwd=project.parent, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and find_emulator(state_dir_for(project)) is None:
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read() if proc.stdout else "local up exited")
        time.sleep(0.2)
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_local_up_is_found_deployed_into_and_stops_cleanly(project, running):
    found = find_emulator(state_dir_for(project))
    assert found is not None and found["agent"] == "fixture-agent" and found["pid"] == running.pid

    again = run("local", "up", cwd=project.parent)
    assert again.returncode == 1 and "already running" in again.stderr

    model = compile_project(project)
    result = deploy_local(model, spec_path=project)
    assert result["version"] == "1" and result["created"] is True
    reply = invoke_local("echo", json.dumps({"text": "hi", "times": 2}), spec_path=project)
    assert reply is not None and reply["status"] == 200 and reply["body"]["output"] == {"text": "hihi"}
    assert reply["version"] == "1"

    via_cli = run("invoke", "echo", "--env", "local", "--data", '{"text": "yo", "times": 3}', cwd=project.parent)
    assert via_cli.returncode == 0, via_cli.stderr
    assert "from version 1 via http://127.0.0.1:" in via_cli.stdout and '"yoyoyo"' in via_cli.stdout

    status = run("status", "--env", "local", "--json", cwd=project.parent)
    assert status.returncode == 0, status.stderr
    assert '"1"' in status.stdout

    rollback = run("rollback", "--env", "local", cwd=project.parent)
    assert rollback.returncode == 1 and "no previous version" in rollback.stderr

    running.send_signal(signal.SIGINT)
    out, _ = running.communicate(timeout=30)
    assert running.returncode == 0, out
    assert "gateway (Function URL): http://127.0.0.1:" in out and out.rstrip().endswith("stopped")
    assert "unlike AWS: IAM is not enforced, memory_mb is not a limit, time x600 scales waiting only" in out
    assert find_emulator(state_dir_for(project)) is None
    assert not (state_dir_for(project) / "emulator.json").exists()


def test_commands_say_how_to_start_the_emulator_when_none_runs(project):
    model = compile_project(project)
    with pytest.raises(Exception, match="deployer local up"):
        deploy_local(model, spec_path=project)
    assert invoke_local("echo", "{}", spec_path=project) is None


def test_drill_refuses_to_run_without_a_fault(project):
    result = run("drill", "--error-rate", "0", cwd=project.parent)
    assert result.returncode == 1 and "no fault to inject" in result.stderr


def test_drill_quality_fault_refusals_say_what_is_missing(project):
    result = run("drill", "--fault", "quality", cwd=project.parent)  # the fixture spec has no online quality gate
    assert result.returncode == 1 and "online quality gate" in result.stderr and "evaluation.online" in result.stderr
    result = run("drill", "--confuse", "team:a=b", cwd=project.parent)
    assert result.returncode == 2 and "--confuse goes with --fault quality" in result.stderr
    result = run("drill", "--fault", "quality", "--confuse", "nonsense", cwd=project.parent)
    assert result.returncode == 2 and "is not FIELD:A=B" in result.stderr


@pytest.mark.slow
def test_drill_exits_1_when_the_faulty_version_is_promoted(project):
    # the fixture agent gates on error rate and p99 only: a cost fault goes through, so the drill fails
    result = run("drill", "--error-rate", "0", "--cost-multiplier", "5", "--strategy", "all_at_once",
                 "--time-scale", "240", "--json", cwd=project.parent, timeout=180)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["rollout_status"] == "succeeded"


def test_invoke_env_local_without_an_emulator_runs_in_process_and_says_so(project):
    result = run("invoke", "echo", "--env", "local", "--data", '{"text": "a", "times": 2}', cwd=project.parent)
    assert result.returncode == 0, result.stderr
    assert "no local emulator is running" in result.stderr and "invoking in-process" in result.stderr
    assert '"aa"' in result.stdout and "metrics (EMF)" in result.stdout


def test_fault_injection_is_refused_outside_the_emulator(project):
    spec = project.read_text().replace("environments:\n", "environments:\n  staging:\n    region: eu-west-1\n", 1)
    project.write_text(spec)
    result = run("deploy", "--env", "staging", "--inject-error-rate", "0.5", cwd=project.parent)
    assert result.returncode == 1
    assert "fault injection is for the local emulator; staging targets aws" in result.stderr
