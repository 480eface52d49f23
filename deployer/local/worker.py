"""One worker process per function version: runs that version's bundle handler.

Started by `deployer.local.gateway.VersionWorker` as ``python worker.py`` (by path, so nothing of
`deployer` is imported here): two versions' modules cannot share a process, so each version gets
its own interpreter whose `sys.path` starts with the bundle directory, and whose environment is
the function's configuration (fault injection included). It connects back to the gateway over a
`multiprocessing.connection` socket on 127.0.0.1. Requests run on the main thread (where the
runtime can use SIGALRM deadlines, as in Lambda); while it is busy, concurrent requests overflow
to a thread pool (Lambda would give each its own environment; threads are the cheap stand-in).

Each request's stdout is captured per thread and sent back with the response, so that the
gateway can turn the handler's log and EMF lines into records and metrics.

Message in:  {"id", "event", "request_id", "deadline_ms"}
Message out: {"id", "ok", "result" | "error", "lines", "duration_ms", "max_memory_mb"}
"""

from __future__ import annotations

import importlib
import io
import json
import os
import queue
import resource
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Client
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
    threads = int(os.environ.get("DEPLOYER_WORKER_THREADS", "32"))
    _isolate(bundle_dir)
    os.chdir(bundle_dir)
    capture = _ThreadStdout(sys.stdout)
    sys.stdout = capture
    conn = Client(address, authkey=authkey)
    send_lock = threading.Lock()

    def reply(message: dict[str, Any]) -> None:
        data = json.dumps(message, default=str).encode()
        with send_lock:
            conn.send_bytes(data)

    init_started = time.perf_counter()
    try:
        handler = _load_handler(os.environ.get("DEPLOYER_HANDLER", "handlers.runtime.handler"))
    except Exception:
        reply({"id": 0, "ok": False, "error": {"type": "Runtime.ImportModuleError",
                                                "message": traceback.format_exc(limit=5)}})
        conn.close()
        return
    reply({"id": 0, "ok": True, "init_ms": (time.perf_counter() - init_started) * 1000.0})

    def run(message: dict[str, Any]) -> None:
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
            reply(outcome)
        except (OSError, TypeError, ValueError) as exc:
            reply({"id": message["id"], "ok": False, "lines": lines, "duration_ms": duration_ms,
                   "max_memory_mb": max_memory_mb,
                   "error": {"type": "Runtime.MarshalError", "message": str(exc)}})

    # The main thread serves requests (the runtime enforces deadlines with SIGALRM there, as in
    # Lambda); while it is busy, further requests overflow to a thread pool (concurrency).
    main_queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
    main_free = threading.Semaphore(1)
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="invoke")

    def read() -> None:
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                break
            message = json.loads(data)
            if message.get("op") == "stop":
                break
            if main_free.acquire(blocking=False):
                main_queue.put(message)
            else:
                pool.submit(run, message)
        main_queue.put(None)

    threading.Thread(target=read, name="reader", daemon=True).start()
    while True:
        message = main_queue.get()
        if message is None:
            break
        try:
            run(message)
        finally:
            main_free.release()
    conn.close()
    os._exit(0)  # do not wait for handler threads stuck past their timeout


if __name__ == "__main__":
    main()
