"""locust's distributed mode across hosts, with processes on 127.0.0.1 standing in for the hosts.

A master (`deployer loadtest --master --expect-workers 2`) and two workers
(`deployer loadtest --worker --master-host 127.0.0.1`) are separate processes, each started the
way a user starts them on its own machine; the workers get no spec and no input file. Every
process is bounded by its own timeout and by the test's.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.loadtest_target import ROOT, Faults, Target, loadtest_target, write_inputs

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
SPEC = str(ROOT / "agent.yaml")
PROCESS_LIMIT_S = 90


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Finished:
    code: int
    output: str
    wall_s: float


@contextmanager
def started(args: list[str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-m", "deployer.cli", "loadtest", *args], cwd=cwd, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)


def finish(process: subprocess.Popen[str], since: float) -> Finished:
    output, _ = process.communicate(timeout=PROCESS_LIMIT_S)
    return Finished(process.returncode, output, time.monotonic() - since)


def master_args(target: Target, tmp_path: Path, port: int, *, expect: int = 2, join_timeout: str = "30s",
                extra: tuple[str, ...] = ()) -> list[str]:
    inputs = write_inputs(tmp_path / "inputs.jsonl")
    return ["--env", "local", "--spec", SPEC, "--target", target.url, "--input", str(inputs), "--rps", "100",
            "--duration", "3s", "--users", "20", "--master", "--expect-workers", str(expect),
            "--master-bind-host", "127.0.0.1", "--master-port", str(port), "--join-timeout", join_timeout,
            "--report", str(tmp_path / "report"), *extra]


def worker_args(port: int, log_dir: Path, join_timeout: str = "30s") -> list[str]:
    return ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port), "--join-timeout", join_timeout,
            "--report", str(log_dir)]


def run_distributed(tmp_path: Path, target: Target, *, extra: tuple[str, ...] = ()) -> tuple[Finished, list[Finished]]:
    port = free_port()
    since = time.monotonic()
    workers_dir = tmp_path / "workers"  # not the master's directory: what they need comes over the port
    workers_dir.mkdir()
    with started(worker_args(port, tmp_path / "w0"), workers_dir) as w0, \
            started(worker_args(port, tmp_path / "w1"), workers_dir) as w1, \
            started(master_args(target, tmp_path, port, extra=extra), tmp_path) as master:
        return finish(master, since), [finish(w0, since), finish(w1, since)]


def test_a_master_and_two_workers_hold_the_plan_together(tmp_path: Path) -> None:
    with loadtest_target() as target:
        master, workers = run_distributed(tmp_path, target, extra=("--concurrency", "4"))
    assert master.code == 0, master.output
    assert "PASSED" in master.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["passed"] is True
    assert report["figures"]["requests"] == 300  # 100 rps x 3 s, split between the two workers
    assert report["plan"]["workers"] == 2 and report["plan"]["sources"]["workers"] == "flag"
    per_process = report["generator"]["per_process"]
    assert sorted(p["worker"] for p in per_process) == ["0", "1"]
    assert sorted(p["requests"] for p in per_process) == [155, 155]  # 150 paced + 5 warm-up each
    swept = report["concurrency"]["levels"][0]["requests"]
    assert swept > 0
    assert target.state.count == 300 + 10 + swept  # every request the target saw is in the report
    for worker in workers:
        assert worker.code == 0, worker.output
        assert "phase 1/2 rate" in worker.output and "50 rps per process" in worker.output
        assert "phase 2/2 concurrency:4" in worker.output
    plan_ids = {line.split("plan ")[1].split()[0] for w in workers for line in w.output.splitlines()
                if line.startswith("phase 1/2")}
    assert len(plan_ids) == 1  # both workers ran the master's one plan


def test_the_gate_judges_what_the_workers_sent(tmp_path: Path) -> None:
    with loadtest_target(Faults(error_rate=0.1)) as target:
        master, workers = run_distributed(tmp_path, target)
    assert master.code == 1, master.output
    assert "FAILED: error rate" in master.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["figures"]["requests"] == 300
    # The target fails every 10th request it sees: 31 of 300 paced + 10 warm-up. The two workers'
    # warm-ups and paced requests interleave, so the 10th may be either; the report holds all 31.
    assert target.state.count == 310
    assert report["warmup"]["requests"] == 10
    assert report["figures"]["failed"] + report["warmup"]["failed"] == 31
    assert report["figures"]["failed"] in (30, 31)
    assert all(w.code == 0 for w in workers), [w.output for w in workers]


def test_a_worker_that_never_joins_fails_the_master_with_the_count(tmp_path: Path) -> None:
    port = free_port()
    since = time.monotonic()
    with loadtest_target() as target, \
            started(worker_args(port, tmp_path / "w0"), tmp_path) as only_worker, \
            started(master_args(target, tmp_path, port, join_timeout="3s"), tmp_path) as master:
        done = finish(master, since)
        worker = finish(only_worker, since)
        sent = target.state.count
    assert done.code == 1, done.output
    assert "only 1 of 2 workers joined port" in done.output and "within 3s" in done.output
    assert "deployer loadtest --worker --master-host" in done.output  # what to do about it
    assert done.wall_s < 30
    assert sent == 0
    assert worker.code == 1, worker.output
    assert "ended without sending a plan" in worker.output
