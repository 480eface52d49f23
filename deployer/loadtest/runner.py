"""Run locust in its own processes and follow its per-request results while it runs.

locust (and its gevent monkey-patching) is never imported into the deployer process: one phase
is `python -m locust`, or a master plus N workers bound to 127.0.0.1, or (with `--master`) only a
master that workers on other hosts join (`deployer loadtest --worker`, see `worker`). Processes
start in a new session so that Ctrl-C reaches only the deployer, which then stops the generator
with SIGTERM and keeps what it recorded. Every wait is bounded: the time the master waits for its
workers, the phase's own duration and fixed grace periods.
"""

from __future__ import annotations

import contextlib
import json
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
from deployer.loadtest.distributed import WORKERS_FILE
from deployer.loadtest.records import SETTINGS_ENV, GeneratorSettings, RequestRecord, ResultsTail
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
    workers_joined: int | None = None  # of `workers`, while a master waits for them
    workers: int = 1


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


def generator_environment(settings_path: Path | None = None) -> dict[str, str]:
    """The environment of a locust process: this deployer importable, the plan file (if any)."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env.pop(SETTINGS_ENV, None)
    if settings_path is not None:
        env[SETTINGS_ENV] = str(settings_path)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def locust_command() -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


def _commands(settings: GeneratorSettings, run_time_s: int) -> list[tuple[str, list[str]]]:
    base = locust_command()
    spawn_rate = max(100, settings.users * 10)  # every user within ~0.1 s, before the schedule starts
    headless = ["--headless", "-u", str(settings.users), "-r", str(spawn_rate), "-t", f"{run_time_s}s",
                "--stop-timeout", str(int(settings.timeout_s) + 1), "--exit-code-on-error", "0",
                "--only-summary"]
    if settings.workers == 1 and not settings.remote_workers:
        return [("0", [*base, *headless])]
    bind, port = (settings.master_bind_host or "*", settings.master_port) if settings.remote_workers else (
        "127.0.0.1", _free_port())
    master = [*base, *headless, "--master", "--master-bind-host", bind, "--master-bind-port", str(port),
              "--expect-workers", str(settings.workers),
              "--expect-workers-max-wait", str(max(1, round(settings.join_timeout_s)))]
    if settings.remote_workers:
        return [("master", master)]
    workers = [(str(i), [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)])
               for i in range(settings.workers)]
    return [("master", master), *workers]


def _check_port(settings: GeneratorSettings) -> None:
    """A master for other hosts listens on a fixed port: say so plainly when it is taken."""
    if not settings.remote_workers:
        return
    host = settings.master_bind_host or "*"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("" if host in ("*", "0.0.0.0") else host, int(settings.master_port or 0)))
        except OSError as exc:
            raise DeployerError(f"the master cannot listen on {host}:{settings.master_port}: {exc.strerror}",
                                hint="pick another --master-port (and tell the workers), or stop what uses it") from exc


def read_workers(results: Path) -> dict[str, Any] | None:
    """What a master wrote about its workers: expected, joined, done, refused."""
    try:
        data = json.loads((results / WORKERS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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
    deadline_s = (STARTUP_GRACE_S + run_time_s + settings.timeout_s + STOP_GRACE_S
                  + (settings.join_timeout_s if settings.workers > 1 or settings.remote_workers else 0.0))
    _check_port(settings)
    cpu_before = _children_cpu()
    tail = ResultsTail(results)
    live = LiveWindow()
    records: list[RequestRecord] = []
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    started = time.monotonic()
    interrupted = False
    try:
        for position, (worker, command) in enumerate(_commands(settings, run_time_s)):
            log = (results / f"locust-{worker}.log").open("wb")
            logs.append(log)
            # only the first process (the single one or the master) reads the plan; workers get it from the master
            env = generator_environment(settings_path if position == 0 else None)
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                              start_new_session=True))
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
                joined = None
                if settings.remote_workers and not sent:
                    joined = len((read_workers(results) or {}).get("joined", []))
                on_progress(Progress(settings.phase, time.monotonic() - started, settings.duration_s,
                                     sent, planned, rps, p99, errors, joined, settings.workers))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        _stop(processes)
        for log in logs:
            log.close()
    records.extend(tail.read_new())
    wall = time.monotonic() - started
    codes = [p.returncode for p in processes]
    if not interrupted:
        _check_workers(settings, results, have_records=bool(records))
    if not records and not interrupted and any(code not in (0, None) for code in codes):
        raise DeployerError(f"the load generator failed (exit codes {codes}):\n{_log_tail(results)}",
                            hint=f"full logs in {results}")
    return PhaseRun(phase=settings.phase, records=records, wall_s=wall, interrupted=interrupted,
                    processes=settings.workers, generator_meta=_read_meta(results),
                    children_cpu_s=_children_cpu() - cpu_before, return_codes=codes)


def _check_workers(settings: GeneratorSettings, results: Path, *, have_records: bool) -> None:
    """A worker that refused the plan, or too few that joined, fail the phase with who and why."""
    workers = read_workers(results)
    if workers is None or (settings.workers == 1 and not settings.remote_workers):
        return
    refused = workers.get("refused") or []
    if refused:
        raise DeployerError("a worker refused the master's plan:\n  " + "\n  ".join(refused),
                            hint="install the same deployer version on the master and every worker host")
    joined = len(workers.get("joined") or [])
    if joined < settings.workers and not have_records:
        where = (f"port {settings.master_port} of this host" if settings.remote_workers
                 else "the local master")
        hint = (f"start {settings.workers - joined} more with `deployer loadtest --worker --master-host "
                f"<this host> --master-port {settings.master_port}`, check that the port is open to them, "
                "or raise --join-timeout") if settings.remote_workers else f"see the worker logs in {results}"
        raise DeployerError(f"only {joined} of {settings.workers} workers joined {where} within "
                            f"{settings.join_timeout_s:g}s (phase {settings.phase}); nothing was sent", hint=hint)


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
