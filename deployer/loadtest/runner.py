"""Run locust in its own processes and follow its per-request results while it runs.

locust (and its gevent monkey-patching) is never imported into the deployer process: one phase
is `python -m locust` (or a master plus N workers bound to 127.0.0.1), started in a new session so
that Ctrl-C reaches only the deployer, which then stops the generator with SIGTERM and keeps what
it recorded. Every wait is bounded: the phase's own duration plus fixed grace periods.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.errors import DeployerError
from deployer.loadtest.records import SETTINGS_ENV, WORKER_ENV, GeneratorSettings, RequestRecord, ResultsTail
from deployer.loadtest.records import read_generator_meta as _read_meta
from deployer.loadtest.stats import LiveWindow

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STARTUP_GRACE_S = 30.0  # imports, worker connection
STOP_GRACE_S = 5.0  # SIGTERM -> exit
MASTER_GRACE_S = 2.0  # master's quit message -> workers exit
TICK_S = 0.25


@dataclass(frozen=True)
class Progress:
    phase: str
    elapsed_s: float
    planned_s: float
    sent: int
    planned: int | None
    live_rps: float
    live_p99_ms: float | None
    errors: int


@dataclass
class PhaseRun:
    phase: str
    records: list[RequestRecord]
    wall_s: float
    interrupted: bool
    processes: int
    generator_meta: list[dict[str, Any]] = field(default_factory=list)
    children_cpu_s: float = 0.0
    return_codes: list[int | None] = field(default_factory=list)


ProgressCallback = Callable[[Progress], None]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _environment(settings_path: Path, worker: str) -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env[SETTINGS_ENV] = str(settings_path)
    env[WORKER_ENV] = worker
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _commands(settings: GeneratorSettings, run_time_s: int) -> list[tuple[str, list[str]]]:
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    spawn_rate = max(100, settings.users * 10)  # every user within ~0.1 s, before the schedule starts
    headless = ["--headless", "-u", str(settings.users), "-r", str(spawn_rate), "-t", f"{run_time_s}s",
                "--stop-timeout", str(int(settings.timeout_s) + 1), "--exit-code-on-error", "0",
                "--only-summary"]
    if settings.workers == 1:
        return [("0", [*base, *headless])]
    port = _free_port()
    master = [*base, *headless, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
              "--expect-workers", str(settings.workers), "--expect-workers-max-wait", str(int(STARTUP_GRACE_S))]
    workers = [(str(i), [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)])
               for i in range(settings.workers)]
    return [("master", master), *workers]


def run_phase(settings: GeneratorSettings, *, on_progress: ProgressCallback | None = None,
              planned: int | None = None) -> PhaseRun:
    """Run one phase to its end (or Ctrl-C) and return every request it recorded."""
    results = Path(settings.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    settings_path = results / "settings.json"
    settings.write(settings_path)
    # -t bounds the whole run; the paced schedule usually ends it sooner.
    run_time_s = int(settings.duration_s + 2 + (0 if settings.workers == 1 else 1)
                     + (settings.timeout_s if settings.warmup else 0))
    deadline_s = STARTUP_GRACE_S + run_time_s + settings.timeout_s + STOP_GRACE_S
    cpu_before = _children_cpu()
    tail = ResultsTail(results)
    live = LiveWindow()
    records: list[RequestRecord] = []
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    started = time.monotonic()
    interrupted = False
    try:
        for worker, command in _commands(settings, run_time_s):
            log = (results / f"locust-{worker}.log").open("wb")
            logs.append(log)
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                              env=_environment(settings_path, worker), start_new_session=True))
        errors = sent = 0
        while any(p.poll() is None for p in processes) and time.monotonic() - started < deadline_s:
            time.sleep(TICK_S)
            fresh = tail.read_new()
            records.extend(fresh)
            live.add(fresh)
            errors += sum(1 for r in fresh if r.outcome != "ok")
            sent += sum(1 for r in fresh if r.phase == settings.phase)  # the warm-up is not counted
            if on_progress is not None:
                rps, p99 = live.figures(time.time())
                on_progress(Progress(settings.phase, time.monotonic() - started, settings.duration_s,
                                     sent, planned, rps, p99, errors))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        _stop(processes)
        for log in logs:
            log.close()
    records.extend(tail.read_new())
    wall = time.monotonic() - started
    codes = [p.returncode for p in processes]
    if not records and not interrupted and any(code not in (0, None) for code in codes):
        raise DeployerError(f"the load generator failed (exit codes {codes}):\n{_log_tail(results)}",
                            hint=f"full logs in {results}")
    return PhaseRun(phase=settings.phase, records=records, wall_s=wall, interrupted=interrupted,
                    processes=settings.workers, generator_meta=_read_meta(results),
                    children_cpu_s=_children_cpu() - cpu_before, return_codes=codes)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the master (it tells its workers to quit), then any process left, then SIGKILL.

    Each step's wait is bounded; a process that ends here has written its results and accounting.
    """
    def terminate(targets: list[subprocess.Popen[bytes]]) -> None:
        for process in targets:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)

    def wait_all(timeout_s: float) -> None:
        until = time.monotonic() + timeout_s
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.05, until - time.monotonic()))

    try:
        terminate(processes[:1])
        wait_all(MASTER_GRACE_S if len(processes) > 1 else STOP_GRACE_S)
        terminate(processes)
        wait_all(STOP_GRACE_S)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting politely
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=STOP_GRACE_S)


def _log_tail(results: Path, lines: int = 15) -> str:
    chunks = []
    for path in sorted(results.glob("locust-*.log")):
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        chunks.append(f"--- {path.name}\n" + "\n".join(text))
    return "\n".join(chunks)
