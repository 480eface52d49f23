"""`deployer loadtest` as a user runs it: exit codes, the report on disk, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from deployer.cli import main
from tests.helpers.loadtest_target import ROOT, Faults, loadtest_target, write_inputs

pytestmark = pytest.mark.timeout(90)
SPEC = str(ROOT / "agent.yaml")


def invoke(*args: str) -> tuple[int, str]:
    """`deployer loadtest ...` through `main()`, the one place that decides exit codes."""
    result = CliRunner().invoke(run_main, ["loadtest", "--env", "local", "--spec", SPEC, "--users", "40", *args])
    return result.exit_code, result.output


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []})
@click.pass_context
def run_main(ctx: click.Context) -> None:
    ctx.exit(main(ctx.args))


def test_all_gates_passed_exits_0_and_writes_the_report(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl")
    report = tmp_path / "report"
    with loadtest_target() as target:
        code, output = invoke("--target", target.url, "--input", str(inputs), "--rps", "100", "--duration", "3s",
                              "--report", str(report))
    assert code == 0, output
    assert "p99 latency:" in output and "PASSED" in output
    assert "pre-production checklist" in output
    data = json.loads((report / "report.json").read_text())
    assert data["passed"] is True and data["figures"]["requests"] == 300
    assert (report / "report.html").stat().st_size > 10_000
    assert sorted(p.name for p in report.glob("*.png")) == [
        "errors_over_time.png", "latency_histogram.png", "latency_over_time.png", "memory_over_requests.png"]


def test_an_input_file_past_the_limit_is_warned_of_read_once_and_named_in_the_checklist(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deployer.loadtest import inputs as inputs_module
    from deployer.loadtest import session

    monkeypatch.setattr(inputs_module, "MAX_LINES", 20)  # the limit is 1,000,000: 20 keeps the file small

    def read_again(*args: object, **kwargs: object) -> None:
        raise AssertionError("the session read the input file again: the command's read is passed down")
    monkeypatch.setattr(session, "load_inputs", read_again)
    inputs, report = write_inputs(tmp_path / "in.jsonl", count=50), tmp_path / "report"
    with loadtest_target() as target:
        code, output = invoke("--target", target.url, "--input", str(inputs), "--rps", "100", "--duration", "3s",
                              "--report", str(report))
    assert code == 0, output
    flat = " ".join(output.split())  # rich wraps lines at the terminal width
    assert (f"warning: {inputs} goes on past its first 20 inputs: the load test uses those only (split the file, "
            "or draw a sample of it, to send the others)") in flat
    data = json.loads((report / "report.json").read_text())
    [real_data] = [item for item in data["checklist"] if "of the first 20 (of more)" in item["measured"]]
    assert str(inputs) in real_data["measured"]


def test_a_failed_sweep_level_is_called_out_in_a_passed_verdict(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl")
    report = tmp_path / "report"
    # the target throttles (429) above 8 requests in flight: the paced load passes, 30 concurrent does not
    with loadtest_target(Faults(latency_ms=5, concurrency_limit=8)) as target:
        code, output = invoke("--target", target.url, "--input", str(inputs), "--rps", "100", "--duration", "3s",
                              "--concurrency", "4,30", "--report", str(report))
    assert code == 0, output  # the exit code is the SLO gate's (the paced load)
    flat = " ".join(output.split())  # rich wraps lines at the terminal width
    assert "PASSED" in flat
    assert "but 1 checklist item(s) failed" in flat and "concurrency sweep failed at 30 concurrent" in flat
    data = json.loads((report / "report.json").read_text())
    assert data["checklist_failed"] == ["You can scale to 10x your expected peak load"]
    assert len(data["slowest_requests"]) == 10
    assert data["slowest_requests"][0]["replay"].startswith("deployer replay ")
    assert "--env local" in data["slowest_requests"][0]["replay"]
    assert data["slowest_requests"][0]["input_excerpt"].startswith('{"message": "message number')
    html = (report / "report.html").read_text()
    assert "SLO gate PASSED, but 1 checklist item(s) failed" in html
    assert "deployer replay " in html and "you confirm" in html


def test_a_failed_gate_exits_1(tmp_path: Path) -> None:
    inputs = write_inputs(tmp_path / "in.jsonl")
    with loadtest_target(Faults(error_rate=0.1)) as target:
        code, output = invoke("--target", target.url, "--input", str(inputs), "--rps", "100", "--duration", "3s",
                              "--report", str(tmp_path / "report"))
    assert code == 1, output
    assert "FAILED: error rate" in output


@pytest.mark.parametrize(("args", "message"), [
    (["--rps", "0"], "--rps must be between"),
    (["--duration", "soon"], "is not a duration"),
    (["--concurrency", "10,many"], "not a positive whole number"),
    (["--input", "/does/not/exist.jsonl"], "does not exist"),
    (["--workers", "4", "--users", "2"], "must be at least --workers"),
])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = invoke("--target", "http://127.0.0.1:9", "--report", str(tmp_path / "r"), *args)
    assert code == 2, output
    assert message in output


@pytest.mark.parametrize(("args", "message"), [
    (["--worker", "--master-host", "10.0.0.5", "--rps", "50", "--input", "x.jsonl"],
     "a worker takes its plan and inputs from the master: drop --input, --rps"),
    (["--worker", "--master-host", "10.0.0.5", "--env", "staging"], "drop --env"),
    (["--worker"], "--worker needs --master-host"),
    (["--env", "local", "--master"], "--master needs --expect-workers"),
    (["--env", "local", "--expect-workers", "2"], "go with --master"),
    (["--env", "local", "--master-host", "10.0.0.5"], "--master-host goes with --worker"),
    (["--rps", "10"], "Missing option '--env'"),
])
def test_distributed_flags_that_do_not_fit_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(run_main, ["loadtest", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_master_with_local_workers_is_a_usage_error(tmp_path: Path) -> None:
    code, output = invoke("--target", "http://127.0.0.1:9", "--master", "--expect-workers", "2", "--workers", "2",
                          "--report", str(tmp_path / "r"))
    assert code == 2
    assert "with --master the workers are `deployer loadtest --worker` processes" in output


def test_a_bad_input_line_is_a_usage_error_with_its_line(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"message": "ok"}\n{oops\n')
    code, output = invoke("--target", "http://127.0.0.1:9", "--input", str(inputs))
    assert code == 2
    assert f"{inputs}:2: not JSON" in output


def _default_sigint() -> None:
    """In the child: Ctrl-C as at a terminal, even when this suite runs as a background job (SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupted_run(tmp_path: Path, signum: int) -> tuple[subprocess.Popen[bytes], bytes, Path]:
    """A 60 s load test stopped by `signum` once 60 requests have arrived; its process, output and report."""
    inputs = write_inputs(tmp_path / "in.jsonl")
    report = tmp_path / "report"
    with loadtest_target() as target:
        process = subprocess.Popen(
            [sys.executable, "-m", "deployer.cli", "loadtest", "--env", "local", "--spec", SPEC, "--target",
             target.url, "--input", str(inputs), "--rps", "50", "--duration", "60s", "--report", str(report)],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_default_sigint,
            env={**os.environ, "COLUMNS": "200", "PYTHONFAULTHANDLER": "1"})
        deadline = time.monotonic() + 30
        while target.state.count < 60 and time.monotonic() < deadline:
            time.sleep(0.1)
        sent = target.state.count
        process.send_signal(signum)
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # say where it hung: faulthandler dumps every thread on SIGABRT
            process.send_signal(signal.SIGABRT)
            output, _ = process.communicate(timeout=30)
            raise AssertionError(f"no exit 30 s after signal {signum} ({sent} requests had arrived); the CLI's "
                                 "threads:\n" + output.decode(errors="replace")[-6000:]) from None
        arrived = target.state.count
        time.sleep(0.5)
        assert target.state.count == arrived  # the generator stopped with the CLI: no orphan keeps sending
    return process, output, report


def test_ctrl_c_stops_cleanly_and_still_writes_the_report(tmp_path: Path) -> None:
    process, output, report = _interrupted_run(tmp_path, signal.SIGINT)
    assert process.returncode == 130, output.decode()
    data = json.loads((report / "report.json").read_text())
    assert data["interrupted"] is True and data["passed"] is False
    assert 0 < data["figures"]["requests"] < 3000
    assert b"interrupted" in output
    # locust got SIGTERM and shut down through its own handler: it wrote its CPU accounting
    assert list((report / "raw" / "rate").glob("generator-*.json"))


def test_sigterm_stops_like_ctrl_c_and_exits_143(tmp_path: Path) -> None:
    """A cancelled CI job sends SIGTERM: the generator (in its own session) stops too, the report is written."""
    process, output, report = _interrupted_run(tmp_path, signal.SIGTERM)
    assert process.returncode == 143, output.decode()
    data = json.loads((report / "report.json").read_text())
    assert data["interrupted"] is True and data["passed"] is False
    assert list((report / "raw" / "rate").glob("generator-*.json"))
