"""A newcomer's own agent from `deployer init` through the three stages, with the commands `init`
prints and nothing else: validate, invoke, the scaffold's own tests, `local up` + deploy, a load
test against the SLOs, and a production synth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DEPLOYER = str(Path(sys.executable).parent / "deployer")


def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run([DEPLOYER, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_a_scaffolded_agent_goes_through_the_three_stages_with_the_printed_commands(tmp_path: Path) -> None:
    made = run("init", "ticket-triage", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    spec = "ticket-triage/agent.yaml"
    printed = [line.strip() for line in made.stdout.splitlines() if line.strip().startswith("deployer ")]
    assert f"deployer validate --spec {spec}" in printed and f"deployer synth --spec {spec} --env production" in printed
    project = tmp_path / "ticket-triage"
    assert json.loads((project / "agent.schema.json").read_text())["title"] == "agent.yaml"
    assert "TicketTriageAgent" in (project / "agent.yaml").read_text()

    checked = run("validate", "--spec", spec, cwd=tmp_path)
    assert checked.returncode == 0 and not checked.stderr, checked.stderr  # valid, and no warning
    answered = run("invoke", "answer", "--spec", spec, "--data", '{"question": "is it working?"}', "--json",
                   cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout)["response"]["output"]["text"] == "IS IT WORKING?"
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
                           cwd=project, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr

    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    env.pop("AWS_ENDPOINT_URL", None)
    emulator = subprocess.Popen([DEPLOYER, "local", "up", "--spec", spec, "--env", "local", "--time-scale", "60"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while run("status", "--spec", spec, "--env", "local", cwd=tmp_path).returncode != 0:
            assert emulator.poll() is None and time.monotonic() < deadline, "the emulator did not start"
            time.sleep(0.5)
        deployed = run("deploy", "--spec", spec, "--env", "local", "--wait", cwd=tmp_path)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        loaded = run("loadtest", "--spec", spec, "--env", "local", "--duration", "5s", "--report",
                     str(tmp_path / "report"), cwd=tmp_path)
        report = json.loads((tmp_path / "report" / "report.json").read_text())
        assert report["figures"]["requests"] >= 90, loaded.stdout
        assert loaded.returncode == (0 if report["passed"] else 1), loaded.stdout
    finally:
        os.killpg(emulator.pid, signal.SIGINT)
        emulator.wait(timeout=30)

    synthesized = run("synth", "--spec", spec, "--env", "production", "--out", str(tmp_path / "cdk.out"), cwd=tmp_path)
    assert synthesized.returncode == 0, synthesized.stdout + synthesized.stderr
    assert (tmp_path / "cdk.out" / "ticket-triage-production.template.json").is_file()
