"""The gateway's side of a version's worker process: start it, reach it, stop it.

The process itself is `deployer.local.bundles.worker` (run by path, on the function's Python). The
gateway reaches it over a pool of `multiprocessing.connection` sockets on 127.0.0.1, one
request at a time per socket. `WorkerPool` keeps one started worker per version.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.local.bundles.processes import accept, reap, spawn
from deployer.local.bundles.release import interpreter_for

WORKER_SCRIPT = Path(__file__).with_name("worker.py")


class VersionWorker:
    """A process running one version's bundle handler, reached through a pool of connections.

    Each connection carries one request at a time (send, then wait for the reply on the same
    socket: no reader thread, no hand-off). The pool prefers the lowest-numbered free connection,
    so at low concurrency requests go to connection 0, served by the worker's main thread.
    """

    def __init__(
        self,
        version: str,
        bundle_dir: Path,
        env: dict[str, str],
        *,
        handler: str = "handlers.runtime.handler",
        threads: int = 32,
        log_path: Path | None = None,
        python: str | None = None,
    ) -> None:
        self.version = version
        self.python = python or sys.executable
        self.bundle_dir = bundle_dir
        self._env = env
        self._handler = handler
        self._size = max(1, threads)
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._pool: queue.PriorityQueue[tuple[int, Connection]] = queue.PriorityQueue()
        self._all: list[Connection] = []
        self._live = 0
        self._lock = threading.Lock()
        self._next_id = 1
        self.init_ms = 0.0

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None and self._live > 0

    def start(self, timeout_s: float = 60.0) -> None:
        key = secrets.token_bytes(16)
        listener = Listener(("127.0.0.1", 0), authkey=key, backlog=max(16, self._size))
        host, port = listener.address
        env = {
            **self._env,
            "DEPLOYER_WORKER_HOST": str(host), "DEPLOYER_WORKER_PORT": str(port),
            "DEPLOYER_WORKER_KEY": key.hex(), "DEPLOYER_WORKER_THREADS": str(self._size),
            "DEPLOYER_HANDLER": self._handler, "LAMBDA_TASK_ROOT": str(self.bundle_dir),
        }
        self._proc = spawn([self.python, str(WORKER_SCRIPT)], env=env, log_path=self._log_path, cwd=str(self.bundle_dir))
        accepted = accept(listener, self._size, timeout_s=timeout_s)
        hellos: list[dict[str, Any]] = []
        for conn in accepted:
            if conn.poll(timeout_s):
                hellos.append(json.loads(conn.recv_bytes()))
        failed = next((h for h in hellos if not h.get("ok")), None)
        if failed is not None:
            message = failed.get("error", {}).get("message", "unknown error")
            self._close(accepted)
            self.stop()
            raise DeployerError(f"version {self.version}: the bundle's handler failed to load:\n{message}",
                                hint="run the handler locally (`deployer invoke`) to see the error")
        if len(hellos) < self._size:
            self._close(accepted)
            self.stop()
            raise DeployerError(f"version {self.version}: the worker process did not start within {timeout_s:.0f} s",
                                hint=f"see {self._log_path}" if self._log_path else None)
        self.init_ms = float(hellos[0].get("init_ms", 0.0))
        self._all = accepted
        for hello, conn in zip(hellos, accepted, strict=True):
            self._pool.put((int(hello.get("connection", 0)), conn))
        self._live = len(accepted)

    @staticmethod
    def _close(connections: list[Connection]) -> None:
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.close()

    def invoke(self, event: dict[str, Any], request_id: str, timeout_s: float) -> dict[str, Any]:
        try:
            index, conn = self._pool.get(timeout=timeout_s)
        except queue.Empty:
            return {"ok": False, "lines": [], "duration_ms": 0.0, "error": {
                "type": "TooManyRequestsException",
                "message": f"all {self._size} concurrent executions of version {self.version} are busy"}}
        with self._lock:
            message_id = self._next_id
            self._next_id += 1
        deadline_ms = time.time() * 1000 + timeout_s * 1000
        try:
            conn.send_bytes(json.dumps({"id": message_id, "event": event, "request_id": request_id,
                                        "deadline_ms": deadline_ms}).encode())
            if conn.poll(timeout_s):
                reply: dict[str, Any] = json.loads(conn.recv_bytes())
                self._pool.put((index, conn))
                return reply
            timed_out = True
        except (EOFError, OSError):
            timed_out = False
        # a timed-out or broken connection is retired: a late reply must never answer another request
        with contextlib.suppress(OSError):
            conn.close()
        with self._lock:
            self._live -= 1
        if timed_out:
            return {"ok": False, "lines": [], "duration_ms": timeout_s * 1000,
                    "error": {"type": "Sandbox.Timedout", "message": f"Task timed out after {timeout_s:.2f} seconds"}}
        return {"ok": False, "lines": [], "duration_ms": 0.0,
                "error": {"type": "Runtime.ExitError", "message": "the worker process exited"}}

    def discard(self) -> None:
        """Kill the process now (every connection retired: it only holds stuck handler threads)."""
        self._close(self._all)
        self._all, self._live = [], 0
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)

    def stop(self) -> None:
        connections, self._all = self._all, []
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.send_bytes(b'{"op": "stop"}')
        self._close(connections)
        self._live = 0
        reap(self._proc, grace_s=3)


def worker_environment(base: dict[str, str], **extra: str) -> dict[str, str]:
    """A clean environment for a worker: the function's variables plus what Lambda sets."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")}
    return {**keep, **base, **extra}


def worker_for_version(model: DeploymentModel, version: str, bundle_dir: Path, environment: dict[str, str], *,
                       moto_endpoint: str, handler: str, python: str | None, threads: int,
                       log_dir: Path) -> VersionWorker:
    """A worker for one version, with the environment Lambda would give it (not started)."""
    fn = model.function
    env = worker_environment(
        environment,
        AWS_LAMBDA_FUNCTION_NAME=fn.name, AWS_LAMBDA_FUNCTION_VERSION=version,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(fn.memory_mb), AWS_REGION=model.region,
        AWS_DEFAULT_REGION=model.region, AWS_ENDPOINT_URL=moto_endpoint,
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", DEPLOYER_ALIAS=model.alias,
        AWS_LAMBDA_LOG_GROUP_NAME=f"/aws/lambda/{fn.name}", PYTHONDONTWRITEBYTECODE="1",
        # the emulator starts a version's worker at deploy, before any weight shifts (its stand-in for
        # provisioned concurrency): the agent loads during init, so no cold start lands in the bake
        AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency",
    )
    return VersionWorker(version, bundle_dir, env, handler=handler, python=python, threads=threads,
                         log_path=log_dir / f"worker-v{version}.log")


class WorkerPool:
    """One started worker per version: started on first use (a deploy warms it), replaced when it died.

    `bundle_of(version)` gives the version's bundle directory and environment (None: no such
    version); `on_event(kind, message)` adds a timeline event.
    """

    def __init__(self, *, model: Callable[[], DeploymentModel],
                 bundle_of: Callable[[str], tuple[Path, dict[str, str]] | None], moto_endpoint: str, handler: str,
                 threads: int, log_dir: Path, on_event: Callable[[str, str], object]) -> None:
        self._model = model
        self._bundle_of = bundle_of
        self._moto_endpoint = moto_endpoint
        self._handler = handler
        self._threads = threads
        self._log_dir = log_dir
        self._on_event = on_event
        self._workers: dict[str, VersionWorker] = {}
        self._lock = threading.Lock()

    def get(self, version: str) -> VersionWorker:
        """The running worker of `version`, started (or replaced) when needed."""
        worker = self._workers.get(version)
        if worker is not None and worker.alive:
            return worker
        with self._lock:
            worker = self._workers.get(version)
            if worker is not None and worker.alive:
                return worker
            if worker is not None:  # crashed, or every connection retired by timeouts: a fresh one
                worker.discard()
                self._on_event("worker", f"version {version}: worker process replaced (it crashed or timed out)")
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
            worker = worker_for_version(model, version, bundle_dir, environment, moto_endpoint=self._moto_endpoint,
                                        handler=self._handler, python=python, threads=self._threads,
                                        log_dir=self._log_dir)
            worker.start()
            self._workers[version] = worker
            return worker

    def stop(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.stop()
