"""The local HTTP gateway standing in for the Function URL, and the version workers behind it.

`FunctionRuntime` picks a version by the alias weights (as Lambda does for a weighted alias),
sends the Lambda event (Function URL payload v2) to that version's `VersionWorker` process and
maps the result to an HTTP response the way a Function URL does: a dict with `statusCode` is
used as is, any other value becomes a 200 JSON body, and a function error is a 502.

Response headers tell a caller what happened: `x-deployer-version` (the version that served),
`x-deployer-handler-ms` (time inside the handler, so a benchmark can separate the emulator's
overhead), `x-amzn-requestid`. A request header `x-deployer-invoke-version: N` pins a version, as
invoking a qualified function ARN does. Clients call it through `deployer.ops.replay.call_gateway`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from socketserver import StreamRequestHandler
from typing import Any
from urllib.parse import urlsplit

from deployer.errors import DeployerError
from deployer.local.bundles.loopback import LoopbackServer
from deployer.local.bundles.workers import VersionWorker

PIN_HEADER = "x-deployer-invoke-version"


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


class FunctionRuntime:
    """Alias routing, one worker per version, Function URL mapping and per-version counters."""

    def __init__(
        self,
        *,
        function_name: str,
        region: str,
        timeout_s: float,
        now: Callable[[], float],
        memory_mb: int = 128,
        worker_for: Callable[[str], VersionWorker],
        on_lines: Callable[[str, list[str], float], None],
    ) -> None:
        self.function_name = function_name
        self.region = region
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._now = now
        self._worker_for = worker_for
        self._on_lines = on_lines
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
        r = random.random()
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

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes,
               source_ip: str = "127.0.0.1") -> InvokeOutcome:
        request_id = str(uuid.uuid4())
        pinned = headers.get(PIN_HEADER)
        version = pinned or self.choose_version()
        if version is None:
            return _plain(404, "no version is deployed: run `deployer deploy --env local` first", request_id)
        try:
            worker = self._worker_for(version)
        except DeployerError as exc:
            return _plain(404 if pinned else 502, str(exc), request_id, version)
        event = function_url_event(method, target, headers, body, request_id, source_ip)
        reply = worker.invoke(event, request_id, self.timeout_s)
        at = self._now()
        lines = list(reply.get("lines") or [])
        duration = float(reply.get("duration_ms") or 0.0)
        error = reply.get("error") or {}
        if error.get("type") not in (None, "TooManyRequestsException"):  # what Lambda's log would show
            lines.append(f"[ERROR] {error.get('type')}: {error.get('message', '')}".rstrip())
        lines.append(f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: "
                     f"{max(1, math.ceil(duration))} ms\tMemory Size: {self.memory_mb} MB\tMax Memory Used: "
                     f"{math.ceil(float(reply.get('max_memory_mb') or 0.0))} MB")
        self._on_lines(version, lines, at)
        outcome = _to_http(reply, version, request_id)
        with self._count_lock:
            c = self._counters.setdefault(version, VersionCounters())
            c.requests += 1
            c.errors += outcome.status >= 500
            c.first_at = at if c.first_at is None else c.first_at
            c.last_at = at
        return outcome


def function_url_event(method: str, target: str, headers: dict[str, str], body: bytes, request_id: str,
                       source_ip: str) -> dict[str, Any]:
    """The Lambda event of a Function URL request (payload format 2.0)."""
    parts = urlsplit(target)
    now = dt.datetime.now(dt.UTC)
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
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_b64,
    }
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = text
    return event


def _plain(status: int, message: str, request_id: str, version: str = "") -> InvokeOutcome:
    body = json.dumps({"message": message}).encode()
    return InvokeOutcome(version, request_id, status, {"content-type": "application/json"}, body, 0.0, [],
                         {"type": "Emulator", "message": message})


def _to_http(reply: dict[str, Any], version: str, request_id: str) -> InvokeOutcome:
    handler_ms = float(reply.get("duration_ms") or 0.0)
    memory = float(reply.get("max_memory_mb") or 0.0)
    lines = list(reply.get("lines") or [])
    if not reply.get("ok"):
        error = reply.get("error") or {}
        if error.get("type") == "TooManyRequestsException":  # throttled, as a Function URL answers it
            return InvokeOutcome(version, request_id, 429, {"content-type": "application/json"},
                                 b'{"message": "Rate Exceeded."}', 0.0, [], error, memory)
        body = json.dumps({"message": "Internal Server Error"}).encode()
        return InvokeOutcome(version, request_id, 502, {"content-type": "application/json",
                                                         "x-amz-function-error": "Unhandled"},
                             body, handler_ms, lines, error, memory)
    result = reply.get("result")
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body")
        if raw is None:
            data = b""
        elif result.get("isBase64Encoded"):
            data = base64.b64decode(str(raw))
        else:
            data = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
        headers.setdefault("content-type", "application/json")
        return InvokeOutcome(version, request_id, int(result["statusCode"]), headers, data, handler_ms, lines,
                             None, memory)
    return InvokeOutcome(version, request_id, 200, {"content-type": "application/json"},
                         json.dumps(result).encode(), handler_ms, lines, None, memory)


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request", 404: "Not Found",
            413: "Payload Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}
MAX_BODY_BYTES = 6 * 1024 * 1024  # a Function URL's request payload limit


class _Handler(StreamRequestHandler):
    """A lean HTTP/1.1 keep-alive handler: the gateway's hot path, so no email-parser headers."""

    disable_nagle_algorithm = True
    server: _GatewayServer

    def handle(self) -> None:
        while self._one():
            pass

    def _one(self) -> bool:
        line = self.rfile.readline(65537)
        if not line:
            return False
        try:
            method, target, version = line.decode("latin-1").split()
        except ValueError:
            self._reply(400, {}, b'{"message": "bad request line"}', close=True)
            return False
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        length = int(headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._reply(413, {}, b'{"message": "Request must be smaller than 6291456 bytes"}', close=True)
            return False
        body = self.rfile.read(length) if length else b""
        keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        outcome = self.server.runtime.handle(method, target, headers, body, self.client_address[0])
        extra = {"x-amzn-requestid": outcome.request_id, "x-deployer-version": outcome.version,
                 "x-deployer-handler-ms": f"{outcome.handler_ms:.3f}",
                 "x-deployer-max-memory-mb": f"{outcome.max_memory_mb:.1f}"}
        self._reply(outcome.status, {**outcome.headers, **extra}, outcome.body, close=not keep_alive)
        return keep_alive

    def _reply(self, status: int, headers: dict[str, str], body: bytes, *, close: bool) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        lines += [f"{k}: {v}" for k, v in headers.items()
                  if k not in ("content-length", "connection", "transfer-encoding")]
        lines.append(f"content-length: {len(body)}")
        if close:
            lines.append("connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], runtime: FunctionRuntime) -> None:
        self.runtime = runtime
        super().__init__(address, _Handler)


class Gateway(LoopbackServer):
    """The HTTP server in front of a `FunctionRuntime`, on 127.0.0.1."""

    def __init__(self, runtime: FunctionRuntime, *, port: int = 0) -> None:
        super().__init__(_GatewayServer(("127.0.0.1", port), runtime), name="gateway")

