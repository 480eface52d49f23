"""`deployer loadtest --worker`: lend this host's generator to a master on another host.

A worker has no plan of its own and needs no spec or input file: each phase's plan (settings,
input bodies) comes from the master inside locust's spawn message (see `distributed`). Per
phase of the master's run (the paced load, then each concurrency level) this starts `processes`
locust workers that join the master, waits until they have sent their share, and starts the next
ones for the next phase; the last phase ends the command. Every wait is bounded: the first phase
waits `join_timeout_s` for the master, a later one `NEXT_PHASE_WAIT_S` (the master starts it at
once), and a running phase its own duration plus grace. Locust is never imported here.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.errors import DeployerError
from deployer.loadtest.distributed import STATUS_ENV, read_status
from deployer.loadtest.runner import STOP_GRACE_S, TICK_S, generator_environment, locust_command

#: How long a worker waits for its master's first phase (started by hand on another host).
DEFAULT_WAIT_S = 600.0
#: A master starts its next phase right after the last one: a worker waits this long for it.
NEXT_PHASE_WAIT_S = 60.0
#: After joining, a phase may run this much longer than its own bound (start-up, the master's -t).
RUN_GRACE_S = 30.0
#: A runaway master cannot keep a worker forever: at most this many phases (1 + concurrency levels).
MAX_PHASES = 64


@dataclass(frozen=True)
class WorkerOptions:
    master_host: str
    master_port: int
    processes: int = 1
    join_timeout_s: float = DEFAULT_WAIT_S
    log_dir: str = "reports/loadtest-worker"


@dataclass
class PhaseServed:
    phase: str
    phase_number: int
    phases: int
    plan: str
    label: str
    target: str
    rps_share: float | None  # per process (rate phase)
    requests: int
    idle: int  # processes that joined beyond the master's --expect-workers and sent nothing


@dataclass
class WorkerRun:
    phases: list[PhaseServed] = field(default_factory=list)
    interrupted: bool = False


Notify = Callable[[str], None]


def run_worker(options: WorkerOptions, *, notify: Notify | None = None) -> WorkerRun:
    """Serve every phase of one master's run; raise `DeployerError` when the master never comes."""
    say = notify or (lambda _: None)
    log_dir = Path(options.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    run = WorkerRun()
    say(f"joining the master at {options.master_host}:{options.master_port} with {options.processes} "
        f"process(es); waiting up to {options.join_timeout_s:g}s")
    for number in range(1, MAX_PHASES + 1):
        wait_s = options.join_timeout_s if number == 1 else NEXT_PHASE_WAIT_S
        try:
            served = _serve_phase(options, log_dir, number, wait_s, say)
        except KeyboardInterrupt:
            run.interrupted = True
            return run
        run.phases.append(served)
        if served.phase_number >= served.phases:
            return run
    return run


def _serve_phase(options: WorkerOptions, log_dir: Path, number: int, wait_s: float, say: Notify) -> PhaseServed:
    command = [*locust_command(), "--worker", "--master-host", options.master_host,
               "--master-port", str(options.master_port)]
    statuses = [log_dir / f"status-{number}-{i}.json" for i in range(options.processes)]
    for path in statuses:
        path.unlink(missing_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for i, status in enumerate(statuses):
            log = (log_dir / f"locust-worker-{number}-{i}.log").open("wb")
            logs.append(log)
            env = {**generator_environment(None), STATUS_ENV: str(status)}
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                              start_new_session=True))
        joined = _wait_for(statuses, processes, lambda s: s is not None, wait_s)
        if joined is None:
            where = f"{options.master_host}:{options.master_port}"
            if all(p.poll() is not None for p in processes):
                raise DeployerError(f"the master at {where} ended without sending a plan (phase {number}): it "
                                    "stopped, or gave up waiting for its other workers; its output says which",
                                    hint=f"worker logs in {log_dir}")
            moment = "" if number == 1 else f" for its phase {number} (it may have been stopped or failed)"
            raise DeployerError(
                f"no master answered at {where} within {wait_s:g}s{moment}",
                hint="start `deployer loadtest --master --expect-workers N ...` on the master host, check that "
                     "its port is open to this host, or raise --join-timeout")
        _refused(joined)
        first = joined[0]
        say(f"phase {first['phase_number']}/{first['phases']} {first['phase']}: plan {first['plan']} "
            f"({first.get('label', '')} -> {first['target']})"
            + (f", {first['rps_share']:g} rps per process" if first.get("rps_share") else ""))
        bound_s = max(float(s.get("bound_s", 0.0)) for s in joined) + RUN_GRACE_S
        finished = _wait_for(statuses, processes, lambda s: s is not None and s.get("state") != "joined", bound_s,
                             until_exit=True)
        final = finished or [read_status(p) or {} for p in statuses]
        _refused(final)
        if any(s.get("state") == "joined" for s in final):
            raise DeployerError(f"phase {first['phase']} did not end within {bound_s:g}s: the master stopped "
                                "answering (stopped, failed or unreachable)",
                                hint=f"the master's report says what ran; logs in {log_dir}")
        requests = sum(int(s.get("requests", 0)) for s in final)
        idle = sum(1 for s in final if s.get("idle"))
        say(f"phase {first['phase']} done: {requests:,} requests sent from this host"
            + (f"; {idle} process(es) joined beyond the master's --expect-workers and sent nothing" if idle else ""))
        return PhaseServed(phase=str(first["phase"]), phase_number=int(first["phase_number"]),
                           phases=int(first["phases"]), plan=str(first["plan"]), label=str(first.get("label", "")),
                           target=str(first["target"]), rps_share=first.get("rps_share"), requests=requests,
                           idle=idle)
    finally:
        _stop(processes)
        for log in logs:
            log.close()


def _wait_for(statuses: list[Path], processes: list[subprocess.Popen[bytes]],
              ready: Callable[[dict[str, Any] | None], bool], timeout_s: float,
              until_exit: bool = False) -> list[dict[str, Any]] | None:
    """Every status `ready` (and, with `until_exit`, every process ended) within `timeout_s`, else None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = [read_status(path) for path in statuses]
        if any(s is not None and s.get("state") == "refused" for s in current):
            return [s or {} for s in current]
        alive = any(p.poll() is None for p in processes)
        if all(ready(s) for s in current) and (not until_exit or not alive):
            return [s or {} for s in current]
        if not alive and not all(ready(s) for s in current):
            return None  # the processes ended without joining (master gone, connection refused for good)
        time.sleep(TICK_S)
    return None


def _refused(statuses: list[dict[str, Any]]) -> None:
    reasons = sorted({str(s.get("reason")) for s in statuses if s.get("state") == "refused"})
    if reasons:
        raise DeployerError("this worker refused the master's plan: " + "; ".join(reasons),
                            hint="install the same deployer version on the master and every worker host")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    until = time.monotonic() + STOP_GRACE_S
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.05, until - time.monotonic()))
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_GRACE_S)
