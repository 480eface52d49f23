"""Execution environments, as Lambda keeps them: one process per concurrent request, per version.

An `ExecutionEnvironment` is one worker process (`deployer.local.bundles.worker`, run by path on the
function's Python) reached over one `multiprocessing.connection` socket on 127.0.0.1; it serves one
request at a time. `WorkerPool` keeps every version's environments and hands them to requests the
way Lambda does:

- a request takes an idle environment of its version (the most recently used: warm), else a new
  one is started for it: a cold start, whose init the request waits for and whose `Init Duration`
  its REPORT line shows;
- requests in flight across the function are limited by its concurrency: the reserved concurrency
  (`model.function.reserved_concurrency`, else Lambda's default account limit of 1,000) and this
  machine (`machine_concurrency`: 8 environments per CPU). Past it a request is throttled (429
  `TooManyRequestsException`), never queued. Its message names the limit: past the machine's, where
  Lambda would have started another environment, it says so (and once on the timeline);
- a deploy starts the new version's provisioned environments (max(1, provisioned concurrency)) before
  any weight shifts: their init runs with `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`
  (the agent loads then). Environments started by requests are `on-demand`;
- an environment whose request timed out, or whose process died, is discarded (Lambda resets it).
  Idle environments stay until the pool needs room for another version's.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.local.bundles.processes import Channel, accept, reap, spawn
from deployer.local.bundles.release import interpreter_for

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
#: Lambda's default concurrency limit of an account, for a function without reserved concurrency.
ACCOUNT_CONCURRENCY = 1000
#: Environments per CPU at most: they are processes; past this a CPU-bound agent only time-slices.
ENVIRONMENTS_PER_CPU = 8
PROVISIONED = "provisioned-concurrency"
ON_DEMAND = "on-demand"


def machine_concurrency() -> int:
    """How many environments this machine runs at once: 8 per CPU (16 on 2 cores)."""
    return ENVIRONMENTS_PER_CPU * (os.cpu_count() or 1)


def _failure(kind: str, message: str, duration_ms: float = 0.0) -> dict[str, Any]:
    return {"ok": False, "lines": [], "duration_ms": duration_ms, "error": {"type": kind, "message": message}}


class ExecutionEnvironment:
    """One worker process running one version's handler, one request at a time."""

    def __init__(self, version: str, bundle_dir: Path, env: dict[str, str], *, handler: str = "handlers.runtime.handler",
                 init_type: str = PROVISIONED, log_path: Path | None = None, python: str | None = None) -> None:
        self.version = version
        self.python = python or sys.executable
        self.bundle_dir = bundle_dir
        self.init_type = init_type
        self._env = {**env, "AWS_LAMBDA_INITIALIZATION_TYPE": init_type}
        self._handler = handler
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Channel | None = None
        self._next_id = 1
        self.init_ms = 0.0
        #: the REPORT line of the first request of an on-demand environment shows its init
        self.pending_init_ms: float | None = None
        self.pid = 0
        self.served = 0
        self.last_used = 0.0

    @property
    def alive(self) -> bool:
        return self._conn is not None and self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 60.0) -> ExecutionEnvironment:
        """Start the process and wait for its init; raises `DeployerError` when the handler cannot load."""
        key = secrets.token_bytes(16)
        listener = Listener(("127.0.0.1", 0), authkey=key)
        host, port = listener.address
        env = {**self._env, "DEPLOYER_WORKER_HOST": str(host), "DEPLOYER_WORKER_PORT": str(port),
               "DEPLOYER_WORKER_KEY": key.hex(), "DEPLOYER_HANDLER": self._handler,
               "LAMBDA_TASK_ROOT": str(self.bundle_dir)}
        started = time.perf_counter()
        self._proc = spawn([self.python, str(WORKER_SCRIPT)], env=env, log_path=self._log_path, cwd=str(self.bundle_dir))
        accepted = accept(listener, 1, timeout_s=timeout_s)
        hello: dict[str, Any] | None = None
        if accepted:
            remaining = max(0.1, timeout_s - (time.perf_counter() - started))
            with contextlib.suppress(EOFError, OSError, pickle.UnpicklingError):
                if accepted[0].poll(remaining):
                    hello = pickle.loads(accepted[0].recv_bytes())
        if hello is None or not hello.get("ok"):
            for conn in accepted:
                with contextlib.suppress(OSError):
                    conn.close()
            self.kill()
            if hello is None:
                raise DeployerError(f"version {self.version}: the worker process did not start within {timeout_s:.0f} s",
                                    hint=f"see {self._log_path}" if self._log_path else None)
            message = hello.get("error", {}).get("message", "unknown error")
            raise DeployerError(f"version {self.version}: the bundle's handler failed to load:\n{message}",
                                hint="run the handler locally (`deployer invoke`) to see the error")
        self._conn = Channel(accepted[0])
        self.pid = int(hello.get("pid") or self._proc.pid)
        self.init_ms = float(hello.get("init_ms", 0.0))
        self.pending_init_ms = self.init_ms if self.init_type == ON_DEMAND else None
        return self

    def invoke(self, event: dict[str, Any], request_id: str, timeout_s: float) -> dict[str, Any]:
        """Run one request; a timeout or a dead process is a failed reply, and the environment is then unusable."""
        conn = self._conn
        if conn is None:
            return _failure("Runtime.ExitError", "the execution environment is gone")
        message_id, self._next_id = self._next_id, self._next_id + 1
        deadline_ms = time.time() * 1000 + timeout_s * 1000
        try:
            conn.send(pickle.dumps({"id": message_id, "event": event, "request_id": request_id,
                                    "deadline_ms": deadline_ms}, protocol=pickle.HIGHEST_PROTOCOL))
            reply: dict[str, Any] = pickle.loads(conn.recv(timeout_s))
            self.served += 1
            return reply
        except TimeoutError:
            self.kill()  # a late reply must never answer another request: Lambda resets the environment too
            return _failure("Sandbox.Timedout", f"Task timed out after {timeout_s:.2f} seconds", timeout_s * 1000)
        except (EOFError, OSError, pickle.UnpicklingError):
            self.kill()
            code = self._proc.poll() if self._proc is not None else None
            return _failure("Runtime.ExitError", f"RequestId: {request_id} Error: Runtime exited"
                            + (f" with error: exit status {code}" if code is not None else " without providing a reason"))

    def kill(self) -> None:
        """End the process now."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def stop(self) -> None:
        """Ask the process to end, then make sure it did."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(pickle.dumps({"op": "stop"}))
            conn.close()
        reap(self._proc, grace_s=3)


def worker_environment(base: dict[str, str], **extra: str) -> dict[str, str]:
    """A clean environment for a worker: the function's variables plus what Lambda sets."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")}
    return {**keep, **base, **extra}


def lambda_environment(model: DeploymentModel, version: str, environment: dict[str, str], *,
                       moto_endpoint: str) -> dict[str, str]:
    """The environment Lambda gives one version's environments (the initialization type is per environment)."""
    fn = model.function
    return worker_environment(
        environment,
        AWS_LAMBDA_FUNCTION_NAME=fn.name, AWS_LAMBDA_FUNCTION_VERSION=version,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(fn.memory_mb), AWS_REGION=model.region,
        AWS_DEFAULT_REGION=model.region, AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", DEPLOYER_ALIAS=model.alias,
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{fn.name}", PYTHONDONTWRITEBYTECODE="1",
    )


@dataclass
class EnvironmentStats:
    """What a version's environments did: how many, cold starts, throttles, discards."""

    environments: int = 0
    busy: int = 0
    cold_starts: int = 0
    throttles: int = 0
    discarded: int = 0


@dataclass
class _Version:
    bundle_dir: Path
    env: dict[str, str]
    python: str | None
    idle: list[ExecutionEnvironment]
    stats: EnvironmentStats


class Throttled(Exception):
    """The function is at its concurrency limit: the request gets a 429, as from Lambda."""


class WorkerPool:
    """Every version's execution environments, handed out one request at a time.

    `bundle_of(version)` gives the version's bundle directory and environment (None: no such
    version); `on_event(kind, message)` adds a timeline event. `max_environments` overrides the
    machine's share (`machine_concurrency`).
    """

    def __init__(self, *, model: Callable[[], DeploymentModel],
                 bundle_of: Callable[[str], tuple[Path, dict[str, str]] | None], moto_endpoint: str, handler: str,
                 log_dir: Path, on_event: Callable[[str, str], object], max_environments: int | None = None) -> None:
        self._model = model
        self._bundle_of = bundle_of
        self._moto_endpoint = moto_endpoint
        self._handler = handler
        self._log_dir = log_dir
        self._on_event = on_event
        self._machine = max(1, max_environments or machine_concurrency())
        self._versions: dict[str, _Version] = {}
        self._busy: set[ExecutionEnvironment] = set()
        self._starting = 0
        self._lock = threading.Lock()
        self._stopped = False
        self._machine_throttled = False

    @property
    def limit(self) -> int:
        """Requests in flight at most: the function's reserved concurrency (or the account's), and the machine's."""
        return max(1, min(self._function_limit(), self._machine))

    def _version(self, version: str) -> _Version:
        """The version's bundle and environment, resolved once (caller holds no lock: may search for Python)."""
        known = self._versions.get(version)
        if known is not None:
            return known
        model = self._model()
        bundle = self._bundle_of(version)
        if bundle is None:
            raise DeployerError(f"function {model.function.name} has no version {version}")
        python = interpreter_for(model.function.python)
        if python is None:
            self._on_event("warning", f"no Python {model.function.python} on this machine: version {version} "
                           f"runs on {sys.version_info.major}.{sys.version_info.minor} with dependencies built for it; "
                           f"install Python {model.function.python} to emulate the exact runtime")
        bundle_dir, environment = bundle
        env = lambda_environment(model, version, environment, moto_endpoint=self._moto_endpoint)
        with self._lock:
            return self._versions.setdefault(version, _Version(bundle_dir, env, python, [], EnvironmentStats()))

    def _new(self, version: str, v: _Version, init_type: str) -> ExecutionEnvironment:
        return ExecutionEnvironment(version, v.bundle_dir, v.env, handler=self._handler, init_type=init_type,
                                    python=v.python, log_path=self._log_dir / f"worker-v{version}.log")

    def get(self, version: str) -> ExecutionEnvironment:
        """Start the version's provisioned environments (a deploy, before traffic); returns the first."""
        v = self._version(version)
        with self._lock:
            ready = [e for e in v.idle if e.alive and e.init_type == PROVISIONED]
        if ready:
            return ready[0]
        wanted = max(1, min(self._model().function.provisioned_concurrency or 0, self._machine))
        started = [self._new(version, v, PROVISIONED).start() for _ in range(wanted)]
        with self._lock:
            v.idle.extend(started)
            v.stats.environments += len(started)
        return started[0]

    def acquire(self, version: str) -> ExecutionEnvironment:
        """An environment for one request of `version`: idle (warm) or new (cold start). Raises `Throttled`."""
        v = self._versions.get(version) or self._version(version)
        evict: ExecutionEnvironment | None = None
        throttled: Throttled | None = None
        first_of_machine = False
        with self._lock:  # one section: the limit check and the claim are atomic
            if self._stopped:
                raise DeployerError("the emulator is stopping")
            in_flight = len(self._busy) + self._starting
            if in_flight >= self.limit:
                v.stats.throttles += 1
                throttled = Throttled(self._throttle_message(in_flight))
                first_of_machine = self._machine_bound() and not self._machine_throttled
                self._machine_throttled |= first_of_machine
            else:
                while v.idle:
                    env = v.idle.pop()  # the most recently used: warm
                    if env.alive:
                        self._busy.add(env)
                        return env
                    v.stats.environments -= 1
                    v.stats.discarded += 1
                if self._count() >= self._machine:  # room for this version: reclaim another's idle environment
                    evict = self._oldest_idle()
                self._starting += 1
                v.stats.cold_starts += 1
        if throttled is not None:
            if first_of_machine:  # not Lambda's limit but this machine's: said once on the timeline
                self._on_event("warning", str(throttled))
            raise throttled
        if evict is not None:
            evict.stop()
        try:
            env = self._new(version, v, ON_DEMAND).start()
        except BaseException:
            with self._lock:
                self._starting -= 1
                v.stats.cold_starts -= 1
            raise
        with self._lock:
            self._starting -= 1
            self._busy.add(env)
            v.stats.environments += 1
        return env

    def release(self, env: ExecutionEnvironment) -> None:
        """The request is over: the environment is idle again, or discarded when it timed out or died."""
        with self._lock:
            self._busy.discard(env)
            v = self._versions.get(env.version)
            if env.alive and v is not None and not self._stopped:
                env.last_used = time.monotonic()
                v.idle.append(env)
                return
            if v is not None:
                v.stats.environments -= 1
                v.stats.discarded += 1
        env.kill()
        if not self._stopped:
            self._on_event("worker", f"version {env.version}: execution environment (pid {env.pid}) discarded: "
                           "its request timed out or its process exited; the next request starts a new one")

    def _function_limit(self) -> int:
        reserved = self._model().function.reserved_concurrency
        return ACCOUNT_CONCURRENCY if reserved is None else reserved

    def _machine_bound(self) -> bool:
        """The limit in force is this machine's, lower than the function's (Lambda would start another)."""
        return self._machine < self._function_limit()

    def _throttle_message(self, in_flight: int) -> str:
        if not self._machine_bound():
            return (f"Rate Exceeded: {in_flight} requests in flight, the function's concurrency limit "
                    f"(function.reserved_concurrency) is {self.limit}")
        return (f"Rate Exceeded: {in_flight} requests in flight, the most this machine runs "
                f"({ENVIRONMENTS_PER_CPU} execution environments per CPU); Lambda would start another environment "
                f"(the function's limit is {self._function_limit()}): send fewer concurrent requests "
                "(--users, --concurrency) or load-test the deployed function")

    def _count(self) -> int:
        return len(self._busy) + self._starting + sum(len(v.idle) for v in self._versions.values())

    def _oldest_idle(self) -> ExecutionEnvironment | None:
        idle = [(e.last_used, e) for v in self._versions.values() for e in v.idle]
        if not idle:
            return None
        env = min(idle, key=lambda pair: pair[0])[1]
        v = self._versions[env.version]
        v.idle.remove(env)
        v.stats.environments -= 1
        return env

    def stats(self) -> dict[str, EnvironmentStats]:
        """Per version: environments, busy, cold starts, throttles, discarded."""
        with self._lock:
            busy: dict[str, int] = {}
            for env in self._busy:
                busy[env.version] = busy.get(env.version, 0) + 1
            return {name: EnvironmentStats(v.stats.environments, busy.get(name, 0), v.stats.cold_starts,
                                           v.stats.throttles, v.stats.discarded) for name, v in self._versions.items()}

    def pids(self) -> list[int]:
        """The worker processes alive now (benchmarks account their CPU)."""
        with self._lock:
            envs = [*self._busy, *(e for v in self._versions.values() for e in v.idle)]
        return [e.pid for e in envs if e.alive]

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            envs = [*self._busy, *(e for v in self._versions.values() for e in v.idle)]
            for v in self._versions.values():
                v.idle.clear()
            self._busy.clear()
        threads = [threading.Thread(target=env.stop, daemon=True) for env in envs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
