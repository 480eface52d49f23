"""The local HTTP gateway standing in for the Function URL, and the routing behind it.

`FunctionRuntime` picks a version by the alias weights (as Lambda does for a weighted alias),
takes one of that version's execution environments from the `WorkerPool` (warm, or a cold start,
or a 429 throttle past the function's concurrency), sends it the Lambda event (Function URL
payload v2) and maps the result to an HTTP response the way a Function URL does: a dict with
`statusCode` is used as is, any other value becomes a 200 JSON body, a function error or a
timeout is a 502. Every failure the gateway makes itself (throttle, timeout, crash, malformed
request) is recorded like the handler's own (`failures`).

Response headers tell a caller what happened: `x-deployer-version` (the version that served),
`x-deployer-handler-ms` (time inside the handler, so a benchmark can separate the emulator's
overhead), `x-deployer-max-memory-mb` (the environment's resident memory, the record's figure),
`x-amzn-requestid`. A request header `x-deployer-invoke-version: N` pins a version, as invoking a
qualified function ARN does. HTTP framing and limits: `http11`. Clients call it through
`deployer.ops.replay.call_gateway`.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from deployer.errors import DeployerError
from deployer.local.bundles.failures import ERROR_TYPES, FailureRecords, has_record
from deployer.local.bundles.http11 import Http11Server, HttpLimits, HttpRequest, HttpResponse
from deployer.local.bundles.loopback import LoopbackServer
from deployer.local.bundles.workers import Throttled, WorkerPool

PIN_HEADER = "x-deployer-invoke-version"
MAX_BODY_BYTES = HttpLimits.max_body_bytes  # a Function URL's request payload limit
_JSON = {"content-type": "application/json"}


@dataclass
class InvokeOutcome:
    version: str
    request_id: str
    status: int
    headers: dict[str, str]
    body: bytes
    handler_ms: float
    lines: list[str]
    error: dict[str, Any] | None = None
    max_memory_mb: float = 0.0


@dataclass
class VersionCounters:
    requests: int = 0
    errors: int = 0
    first_at: float | None = None
    last_at: float | None = None


def report_line(request_id: str, duration_ms: float, memory_size_mb: int, memory_used_mb: float,
                init_ms: float | None = None, status: str | None = None, error_type: str | None = None) -> str:
    """Lambda's REPORT line. Billed duration: whole milliseconds, rounded up (Lambda bills per 1 ms)."""
    billed = max(1, -int(-duration_ms // 1))
    line = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms\t"
            f"Memory Size: {memory_size_mb} MB\tMax Memory Used: {round(memory_used_mb)} MB")
    if init_ms is not None:
        line += f"\tInit Duration: {init_ms:.2f} ms"
    if status is not None:
        line += f"\tStatus: {status}" + (f"\tError Type: {error_type}" if error_type else "")
    return line


class FunctionRuntime:
    """Alias routing, execution environments per version, Function URL mapping, per-version counters."""

    def __init__(self, *, function_name: str, region: str, timeout_s: float, now: Callable[[], float],
                 memory_mb: int = 128, pool: WorkerPool, on_lines: Callable[[str, list[str], float], None],
                 records: FailureRecords, rng: random.Random | None = None) -> None:
        self.function_name = function_name
        self.region = region
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.pool = pool
        self.records = records
        self._now = now
        self._on_lines = on_lines
        self._rng = rng or random.Random()  # its own: the global one belongs to the caller
        self._routing: tuple[str | None, tuple[tuple[str, float], ...]] = (None, ())
        self._counters: dict[str, VersionCounters] = {}
        self._count_lock = threading.Lock()

    def set_routing(self, primary: str | None, additional: dict[str, float]) -> None:
        self._routing = (primary, tuple(additional.items()))

    @property
    def routing(self) -> tuple[str | None, dict[str, float]]:
        primary, additional = self._routing
        return primary, dict(additional)

    def choose_version(self) -> str | None:
        primary, additional = self._routing
        r = self._rng.random()
        for version, weight in additional:
            if r < weight:
                return version
            r -= weight
        return primary

    def counters(self, version: str) -> VersionCounters:
        with self._count_lock:
            c = self._counters.get(version)
            return VersionCounters(**vars(c)) if c else VersionCounters()

    def all_counters(self) -> dict[str, VersionCounters]:
        with self._count_lock:
            return {v: VersionCounters(**vars(c)) for v, c in self._counters.items()}

    def _count(self, version: str, status: int, at: float) -> None:
        with self._count_lock:
            c = self._counters.setdefault(version, VersionCounters())
            c.requests += 1
            c.errors += status >= 500
            c.first_at = at if c.first_at is None else c.first_at
            c.last_at = at

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes,
               source_ip: str = "127.0.0.1") -> InvokeOutcome:
        request_id = str(uuid.uuid4())
        pinned = headers.get(PIN_HEADER)
        version = pinned or self.choose_version()
        if version is None:
            return self.failure(404, "no version is deployed: run `deployer deploy --env local` first", request_id,
                                "", target, headers)
        try:
            env = self.pool.acquire(version)
        except Throttled as exc:
            return self.failure(429, str(exc), request_id, version, target, headers, body_message="Rate Exceeded.")
        except DeployerError as exc:
            return self.failure(404 if pinned else 502, str(exc), request_id, version, target, headers)
        init_ms, env.pending_init_ms = env.pending_init_ms, None
        try:
            reply = env.invoke(function_url_event(method, target, headers, body, request_id, source_ip),
                               request_id, self.timeout_s)
        finally:
            self.pool.release(env)
        at = self._now()
        lines: list[str] = reply.get("lines") or []
        duration = float(reply.get("duration_ms") or 0.0)
        memory = float(reply.get("max_memory_mb") or 0.0)
        outcome = _to_http(reply, version, request_id, lines, memory)
        status = error_type = None
        if outcome.error is not None:  # what Lambda's log would show, and the record the handler could not write
            error_type = str(outcome.error.get("type"))
            lines.append(f"[ERROR] {error_type}: {outcome.error.get('message', '')}".rstrip())
            status = "timeout" if error_type == "Sandbox.Timedout" else "error"
            if not has_record(lines):
                lines += self.records.lines(request_id=request_id, action=_action(target), version=version,
                                            status=outcome.status, error_type=error_type,
                                            message=str(outcome.error.get("message", "")), latency_ms=duration,
                                            memory_mb=memory, replay=_replay(headers))
        lines.append(report_line(request_id, duration, self.memory_mb, memory, init_ms, status, error_type))
        self._on_lines(version, lines, at)
        self._count(version, outcome.status, at)
        return outcome

    def failure(self, status: int, message: str, request_id: str, version: str | None, target: str,
                headers: dict[str, str], *, body_message: str | None = None) -> InvokeOutcome:
        """A response the gateway makes itself, recorded: request-record and EMF lines for `version`."""
        error_type = ERROR_TYPES.get(status, "Error")
        version = version or ""
        lines = self.records.lines(request_id=request_id, action=_action(target), version=version, status=status,
                                   error_type=error_type, message=message, replay=_replay(headers))
        at = self._now()
        self._on_lines(version, lines, at)
        if version:
            self._count(version, status, at)
        body = json.dumps({"message": body_message or message}).encode()
        return InvokeOutcome(version, request_id, status, dict(_JSON), body, 0.0, lines,
                             {"type": error_type, "message": message})

    def reject(self, status: int, message: str, request: HttpRequest | None) -> InvokeOutcome:
        """A request the HTTP layer refused (malformed, too large, too slow), on the record like the others."""
        headers = request.headers if request is not None else {}
        target = request.target if request is not None else "/"
        version = headers.get(PIN_HEADER) or self.choose_version()
        return self.failure(status, message, str(uuid.uuid4()), version, target, headers)


def _action(target: str) -> str:
    return target.split("?", 1)[0].rstrip("/").rpartition("/")[2][:200]


def _replay(headers: dict[str, str]) -> bool:
    return headers.get("x-deployer-replay", "").strip().lower() in ("1", "true", "yes")


def function_url_event(method: str, target: str, headers: dict[str, str], body: bytes, request_id: str,
                       source_ip: str) -> dict[str, Any]:
    """The Lambda event of a Function URL request (payload format 2.0)."""
    parts = urlsplit(target)
    now = time.time()
    try:
        text, is_b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_b64 = base64.b64encode(body).decode(), True
    query: dict[str, str] = {}
    for pair in filter(None, parts.query.split("&")):
        name, _, value = pair.partition("=")
        query[name] = f"{query[name]},{value}" if name in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "emulator",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "emulator",
            "http": {"method": method, "path": parts.path or "/", "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": headers.get("user-agent", "")},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = text
    return event


def _to_http(reply: dict[str, Any], version: str, request_id: str, lines: list[str], memory: float) -> InvokeOutcome:
    handler_ms = float(reply.get("duration_ms") or 0.0)
    if not reply.get("ok"):
        error = reply.get("error") or {"type": "Runtime.Unknown", "message": "no reply"}
        body = b'{"message": "Internal Server Error"}'
        return InvokeOutcome(version, request_id, 502, {**_JSON, "x-amz-function-error": "Unhandled"},
                             body, handler_ms, lines, error, memory)
    try:
        result = json.loads(reply.get("result_json") or "null")
    except (ValueError, RecursionError) as exc:
        return InvokeOutcome(version, request_id, 502, dict(_JSON), b'{"message": "Internal Server Error"}',
                             handler_ms, lines, {"type": "Runtime.InvalidResponse", "message": str(exc)}, memory)
    if isinstance(result, dict) and "statusCode" in result:
        try:
            status = int(result["statusCode"])
            headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
            raw = result.get("body")
            if raw is None:
                data = b""
            elif result.get("isBase64Encoded"):
                data = base64.b64decode(str(raw))
            else:
                data = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
            if not 100 <= status <= 599:
                raise ValueError(f"statusCode {status} is not an HTTP status")
        except (TypeError, ValueError, AttributeError) as exc:  # a Function URL answers a bad response with 502
            return InvokeOutcome(version, request_id, 502, dict(_JSON), b'{"message": "Internal Server Error"}',
                                 handler_ms, lines, {"type": "Runtime.InvalidResponse", "message": str(exc)}, memory)
        headers.setdefault("content-type", "application/json")
        return InvokeOutcome(version, request_id, status, headers, data, handler_ms, lines, None, memory)
    return InvokeOutcome(version, request_id, 200, dict(_JSON), json.dumps(result).encode(), handler_ms, lines,
                         None, memory)


class _GatewayApp:
    """The HTTP side: complete requests to the runtime, refused ones recorded by it too."""

    def __init__(self, runtime: FunctionRuntime) -> None:
        self.runtime = runtime

    def handle(self, request: HttpRequest) -> HttpResponse:
        outcome = self.runtime.handle(request.method, request.target, request.headers, request.body, request.peer)
        return _response(outcome)

    def reject(self, status: int, message: str, request: HttpRequest | None) -> HttpResponse:
        return _response(self.runtime.reject(status, message, request))


def _response(outcome: InvokeOutcome) -> HttpResponse:
    headers = [(k, v) for k, v in outcome.headers.items() if _header_ok(k, v)]
    headers += [("x-amzn-requestid", outcome.request_id), ("x-deployer-version", outcome.version),
                ("x-deployer-handler-ms", f"{outcome.handler_ms:.3f}"),
                ("x-deployer-max-memory-mb", f"{outcome.max_memory_mb:.1f}")]
    return HttpResponse(outcome.status, headers, outcome.body)


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")


def _header_ok(name: str, value: str) -> bool:
    """A header the function returned that HTTP/1.1 can carry; others are dropped, never sent half-formed."""
    return _TOKEN.fullmatch(name) is not None and _FIELD_VALUE.fullmatch(value) is not None


class Gateway(LoopbackServer):
    """The HTTP server in front of a `FunctionRuntime`, on 127.0.0.1."""

    def __init__(self, runtime: FunctionRuntime, *, port: int = 0, limits: HttpLimits | None = None) -> None:
        self.server = Http11Server(("127.0.0.1", port), _GatewayApp(runtime), limits)
        super().__init__(self.server, name="gateway")
