"""One execution environment: a process that runs one version's bundle handler, one request at a time.

Started by `deployer.local.bundles.workers.ExecutionEnvironment` as ``python worker.py`` (by path,
so nothing of `deployer` is imported here): two versions' modules cannot share a process, so each
environment gets its own interpreter whose `sys.path` starts with the bundle directory, and whose
environment is the function's configuration (fault injection included) plus what Lambda sets
(`AWS_LAMBDA_INITIALIZATION_TYPE`: `provisioned-concurrency` for the environment a deploy starts
before traffic, `on-demand` for those started by a request).

As in Lambda, an environment serves one request at a time, on its main thread (where the runtime's
SIGALRM deadlines work): concurrent requests get other environments. It connects back to the
gateway over one `multiprocessing.connection` socket on 127.0.0.1.

The request's stdout is captured and sent back with the response, so that the gateway can turn the
handler's log and EMF lines into records and metrics.

Memory used is one figure everywhere: the process's resident memory (`/proc/self/statm`) after the
request, the figure the runtime puts in its request record; when the handler printed a request
record, its `memory_mb` is taken as is, so the REPORT line, the response header and the record agree.

Messages are pickled dicts (both ends are ours, on an authenticated socket); the handler's result
travels as JSON text, serialized here as Lambda serializes it (a result JSON cannot carry is a
`Runtime.MarshalError`).
Hello (first message):  {"ok", "init_ms", "pid"}  or  {"ok": false, "error"}
Message in:  {"id", "event", "request_id", "deadline_ms"}  or  {"op": "stop"}
Message out: {"id", "ok", "result_json" | "error", "lines", "duration_ms", "max_memory_mb"}
"""

from __future__ import annotations

import importlib
import io
import json
import os
import pickle
import resource
import sys
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Client
from typing import Any

#: = handlers.records.RECORD_LINE_START (this script imports nothing of deployer, nor of the bundle)
_RECORD_START = '{"event": "request"'
_MEMORY_MARK = '"memory_mb": '


class _Capture(io.TextIOBase):
    """sys.stdout that collects what is printed during a request (and passes anything else on)."""

    def __init__(self, fallback: Any) -> None:
        self._parts: list[str] | None = None
        self._fallback = fallback

    def begin(self) -> None:
        self._parts = []

    def end(self) -> list[str]:
        parts, self._parts = self._parts or [], None
        return [line for line in "".join(parts).splitlines() if line.strip()]

    def write(self, s: str) -> int:
        parts = self._parts
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


def _resident_mb() -> Callable[[], float]:
    """The process's resident memory now, in MB (/proc/self/statm, as the runtime reads it)."""
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:  # not Linux: the peak, the closest figure there is
        per_mb = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0
        return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / per_mb
    page_mb = os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    return lambda: int(os.pread(fd, 64, 0).split()[1]) * page_mb


def memory_of(lines: list[str], measure: Callable[[], float]) -> float:
    """The request record's `memory_mb` when the handler printed one, else resident memory now.

    The record is the runtime's last line of the request (after anything the agent printed), and
    a record line starts with its event: a line of the agent's that merely mentions one is not it.
    """
    for line in reversed(lines):
        if line.startswith(_RECORD_START):
            start = line.find(_MEMORY_MARK)
            if start >= 0:
                start += len(_MEMORY_MARK)
                end = start
                while end < len(line) and line[end] not in ",}":
                    end += 1
                try:
                    return float(line[start:end])
                except ValueError:
                    break
    return measure()


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
    _isolate(bundle_dir)
    os.chdir(bundle_dir)
    capture = _Capture(sys.stdout)
    sys.stdout = capture
    measure = _resident_mb()

    init_started = time.perf_counter()
    try:
        handler = _load_handler(os.environ.get("DEPLOYER_HANDLER", "handlers.runtime.handler"))
        init_error = getattr(sys.modules.get(handler.__module__), "init_error", None)
        if init_error:
            raise RuntimeError(f"the agent failed to load during init: {init_error}")
        hello: dict[str, Any] = {"ok": True, "init_ms": (time.perf_counter() - init_started) * 1000.0}
    except Exception:
        hello = {"ok": False, "error": {"type": "Runtime.ImportModuleError", "message": traceback.format_exc(limit=5)}}
    hello["pid"] = os.getpid()

    def run(message: dict[str, Any]) -> bytes:
        capture.begin()
        started = time.perf_counter()
        try:
            context = _Context(message["request_id"], message["deadline_ms"])
            result = handler(message["event"], context)
            try:
                outcome: dict[str, Any] = {"ok": True, "result_json": json.dumps(result)}
            except (TypeError, ValueError, RecursionError) as exc:
                outcome = {"ok": False, "error": {"type": "Runtime.MarshalError", "message": str(exc)[:4000]}}
        except Exception as exc:
            outcome = {"ok": False, "error": {"type": type(exc).__name__, "message": str(exc)[:4000],
                                              "trace": traceback.format_exc(limit=8).splitlines()[-20:]}}
        duration_ms = (time.perf_counter() - started) * 1000.0
        lines = capture.end()
        max_memory_mb = memory_of(lines, measure)
        outcome.update(id=message["id"], lines=lines, duration_ms=duration_ms, max_memory_mb=max_memory_mb)
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)

    conn = Client(address, authkey=authkey)
    conn.send_bytes(pickle.dumps(hello))
    if not hello["ok"]:
        return
    while True:  # one request at a time, on the main thread
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError):
            break
        if message.get("op") == "stop":
            break
        try:
            conn.send_bytes(run(message))
        except OSError:
            break
    os._exit(0)  # do not wait for threads the agent left running


if __name__ == "__main__":
    main()
