"""One worker process per function version: runs that version's bundle handler.

Started by `deployer.local.bundles.workers.VersionWorker` as ``python worker.py`` (by path, so nothing of
`deployer` is imported here): two versions' modules cannot share a process, so each version gets
its own interpreter whose `sys.path` starts with the bundle directory, and whose environment is
the function's configuration (fault injection included). It connects back to the gateway over a
`multiprocessing.connection` sockets on 127.0.0.1: one per concurrent request it can serve.
Connection 0 is served by the main thread (where the runtime can use SIGALRM deadlines, as in
Lambda) and is the one the gateway prefers; the others by a thread each (Lambda would give each
concurrent request its own environment; threads are the cheap stand-in).

Each request's stdout is captured per thread and sent back with the response, so that the
gateway can turn the handler's log and EMF lines into records and metrics.

Hello (first message on each connection): {"id": 0, "connection", "ok", "init_ms" | "error"}
Message in:  {"id", "event", "request_id", "deadline_ms"}  or  {"op": "stop"}
Message out: {"id", "ok", "result" | "error", "lines", "duration_ms", "max_memory_mb"}
"""

from __future__ import annotations

import importlib
import io
import json
import os
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Client, Connection
from typing import Any


class _ThreadStdout(io.TextIOBase):
    """sys.stdout that collects each request thread's output separately."""

    def __init__(self, fallback: Any) -> None:
        self._local = threading.local()
        self._fallback = fallback

    def begin(self) -> None:
        self._local.parts = []

    def end(self) -> list[str]:
        parts: list[str] = getattr(self._local, "parts", None) or []
        self._local.parts = None
        return [line for line in "".join(parts).splitlines() if line.strip()]

    def write(self, s: str) -> int:
        parts = getattr(self._local, "parts", None)
        if parts is None:
            self._fallback.write(s)
        else:
            parts.append(s)
        return len(s)

    def flush(self) -> None:
        self._fallback.flush()

    def writable(self) -> bool:
        return True


class _Context:
    """The Lambda context object handed to the handler."""

    def __init__(self, request_id: str, deadline_ms: float) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        region = env.get("AWS_REGION", "us-east-1")
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}:{env.get('DEPLOYER_ALIAS', 'live')}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"emulator/[{self.function_version}]"
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _load_handler(spec: str) -> Callable[[Any, Any], Any]:
    module_name, _, attr = spec.replace(":", ".").rpartition(".")
    module = importlib.import_module(module_name)
    handler = getattr(module, attr)
    if not callable(handler):
        raise TypeError(f"{spec} is not callable")
    return handler  # type: ignore[no-any-return]


def _isolate(bundle_dir: str) -> None:
    """sys.path = [bundle dir, stdlib, site-packages]; no editable-install finders of the repo."""
    here = os.path.dirname(os.path.abspath(__file__))
    prefixes = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    keep = [
        p for p in sys.path[1:]
        if p and os.path.abspath(p) != here and ("site-packages" in p or os.path.abspath(p).startswith(prefixes))
    ]
    sys.path[:] = [bundle_dir, *keep]
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
    sys.path_importer_cache.clear()
    for name in [m for m in sys.modules if m == "handlers" or m.startswith("handlers.")]:
        del sys.modules[name]


def main() -> None:
    address = (os.environ["DEPLOYER_WORKER_HOST"], int(os.environ["DEPLOYER_WORKER_PORT"]))
    authkey = bytes.fromhex(os.environ["DEPLOYER_WORKER_KEY"])
    bundle_dir = os.environ["LAMBDA_TASK_ROOT"]
    connections = max(1, int(os.environ.get("DEPLOYER_WORKER_THREADS", "32")))
    _isolate(bundle_dir)
    os.chdir(bundle_dir)
    capture = _ThreadStdout(sys.stdout)
    sys.stdout = capture

    init_started = time.perf_counter()
    try:
        handler = _load_handler(os.environ.get("DEPLOYER_HANDLER", "handlers.runtime.handler"))
        init_error = getattr(sys.modules.get(handler.__module__), "init_error", None)
        if init_error:
            raise RuntimeError(f"the agent failed to load during init: {init_error}")
        hello: dict[str, Any] = {"ok": True, "init_ms": (time.perf_counter() - init_started) * 1000.0}
    except Exception:
        hello = {"ok": False, "error": {"type": "Runtime.ImportModuleError", "message": traceback.format_exc(limit=5)}}

    def run(message: dict[str, Any]) -> bytes:
        capture.begin()
        started = time.perf_counter()
        try:
            context = _Context(message["request_id"], message["deadline_ms"])
            result = handler(message["event"], context)
            outcome: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:
            outcome = {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc),
                                              "trace": traceback.format_exc(limit=8).splitlines()}}
        duration_ms = (time.perf_counter() - started) * 1000.0
        lines = capture.end()
        max_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        outcome.update(id=message["id"], lines=lines, duration_ms=duration_ms, max_memory_mb=max_memory_mb)
        try:
            return json.dumps(outcome, default=str).encode()
        except (TypeError, ValueError) as exc:
            return json.dumps({"id": message["id"], "ok": False, "lines": lines, "duration_ms": duration_ms,
                               "max_memory_mb": max_memory_mb,
                               "error": {"type": "Runtime.MarshalError", "message": str(exc)}}).encode()

    def serve(conn: Connection) -> str:
        """One connection, one request at a time: receive, run, reply. Returns why it ended."""
        while True:
            try:
                message = json.loads(conn.recv_bytes())
            except (EOFError, OSError, ValueError):
                return "closed"
            if message.get("op") == "stop":
                return "stop"
            try:
                conn.send_bytes(run(message))
            except OSError:
                return "closed"

    # The gateway holds a pool of connections and prefers connection 0, which the main thread
    # serves: there the runtime enforces deadlines with SIGALRM, as in Lambda, and no thread hop
    # is paid. Concurrent requests use the other connections, each served by its own thread.
    pool = [Client(address, authkey=authkey) for _ in range(connections)]
    for index, conn in enumerate(pool):
        conn.send_bytes(json.dumps({"id": 0, "connection": index, **hello}).encode())
    if not hello["ok"]:
        return
    others = [threading.Thread(target=serve, args=(conn,), daemon=True) for conn in pool[1:]]
    for thread in others:
        thread.start()
    if serve(pool[0]) == "closed":  # connection 0 retired (a timeout): keep serving on the others
        for thread in others:
            thread.join()
    os._exit(0)  # stopped: do not wait for handler threads stuck past their timeout


if __name__ == "__main__":
    main()
