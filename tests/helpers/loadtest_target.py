"""A small loopback HTTP server that speaks the runtime's response shape, for load-test tests.

`POST /{action}` answers 200 ``{"request_id", "action", "version", "output", "usage"}`` or an
error ``{"request_id", "error": {"type", "message"}}``. Faults are deterministic (every n-th
request fails, each request leaks a fixed amount), so tests do not depend on luck. With
`verify_sigv4` it checks each request's SigV4 signature (service "lambda") like a Function URL
with IAM auth would, and answers 403 when it does not match.

Also `local_model(...)`: the root agent.yaml's local environment, compiled, with test overrides.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Faults:
    error_rate: float = 0.0  # share of requests answered 500
    latency_ms: float = 0.0  # added to every request
    slow_every: int = 0  # every n-th request sleeps `slow_ms` (0: never)
    slow_ms: float = 0.0
    cost_usd: float = 0.000001  # below any sane cost SLO, the flagship's included
    leak_kb: float = 0.0  # reported memory grows this much per request
    confidence: float = 0.95
    status: int = 500
    concurrency_limit: int = 0  # above this many requests in flight, answer 429 like a throttled Lambda (0: none)


@dataclass
class TargetState:
    faults: Faults
    count: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    credentials: Any = None  # botocore Credentials when verifying SigV4
    region: str = "us-east-1"
    rejected: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    throttled: int = 0


def _handler(state: TargetState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if state.credentials is not None and not self._signature_ok(body):
                with state.lock:
                    state.rejected += 1
                self._send(403, {"message": "Forbidden"})
                return
            limit = state.faults.concurrency_limit
            with state.lock:
                state.count += 1
                n = state.count
                throttle = bool(limit) and state.in_flight >= limit
                state.in_flight += 0 if throttle else 1
                state.throttled += 1 if throttle else 0
            if throttle:
                self._send(429, {"message": "Rate Exceeded.", "error": {"type": "TooManyRequestsException"}})
                return
            try:
                self._answer(body, n)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _answer(self, body: bytes, n: int) -> None:
            with state.lock:
                if len(state.bodies) < 10_000:
                    state.bodies.append(json.loads(body or b"{}"))
                fail = state.faults.error_rate > 0 and int(n * state.faults.error_rate) > int(
                    (n - 1) * state.faults.error_rate)
            faults = state.faults
            delay = faults.latency_ms + (faults.slow_ms if faults.slow_every and n % faults.slow_every == 0 else 0)
            if delay:
                time.sleep(delay / 1000.0)
            request_id = str(uuid.uuid4())
            if fail:
                self._send(faults.status, {"request_id": request_id,
                                           "error": {"type": "InjectedFault", "message": "injected"}})
                return
            self._send(200, {
                "request_id": request_id, "action": self.path.strip("/"), "version": "1", "output": {"team": "x"},
                "usage": {"latency_ms": delay, "input_tokens": 12, "output_tokens": 3, "cost_usd": faults.cost_usd,
                          "confidence": faults.confidence, "memory_mb": 60.0 + n * faults.leak_kb / 1024.0},
            })

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _signature_ok(self, body: bytes) -> bool:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest

            authorization = self.headers.get("Authorization", "")
            if not authorization.startswith("AWS4-HMAC-SHA256 "):
                return False
            parts = dict(p.strip().split("=", 1) for p in authorization[len("AWS4-HMAC-SHA256 "):].split(","))
            signed = parts.get("SignedHeaders", "").split(";")
            headers = {name: self.headers.get(name, "") for name in signed if name != "host"}
            url = f"http://{self.headers.get('Host')}{self.path}"
            request = AWSRequest(method="POST", url=url, data=body, headers=headers)
            request.context["timestamp"] = self.headers.get("X-Amz-Date", "")
            auth = SigV4Auth(state.credentials, "lambda", state.region)
            expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
            return bool(parts.get("Signature") == expected and "/lambda/aws4_request" in parts.get("Credential", ""))

    return Handler


@dataclass
class Target:
    url: str
    state: TargetState


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # no SYN drops

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that goes away (a generator stopped mid-request) is not an error of the target."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


@contextmanager
def loadtest_target(faults: Faults | None = None, *, credentials: Any = None,
                    region: str = "us-east-1") -> Iterator[Target]:
    state = TargetState(faults=faults or Faults(), credentials=credentials, region=region)
    server = _Server(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Target(url=f"http://127.0.0.1:{server.server_address[1]}", state=state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def write_inputs(path: Path, count: int = 50, *, weighted: bool = False) -> Path:
    lines = []
    for i in range(count):
        item: dict[str, Any] = {"message": f"message number {i}"}
        if weighted:
            item["weight"] = 10 if i == 0 else 1
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def local_model(**changes: Any) -> Any:
    """The flagship agent's local environment with pinned test SLOs; `slos=`/`load=`/`cost=` dicts patch those."""
    from deployer.compiler import compile_environment
    from deployer.spec import load_spec

    model = compile_environment(load_spec(ROOT / "agent.yaml"), "local")
    # Pinned, so that tuning the flagship's SLOs does not change what these tests judge.
    pinned: dict[str, Any] = {
        "slos": dataclasses.replace(model.slos, **TEST_SLOS),
        "cost": dataclasses.replace(model.cost, monthly_budget_usd=50.0, expected_requests_per_month=120_000.0),
    }
    patched: dict[str, Any] = {}
    for part in ("slos", "load", "cost"):
        base = pinned.get(part, getattr(model, part))
        patched[part] = dataclasses.replace(base, **changes.pop(part)) if part in changes else base
    return dataclasses.replace(model, **patched, **changes)


TEST_SLOS: dict[str, Any] = {
    "latency_p50_ms": 50.0, "latency_p95_ms": 200.0, "latency_p99_ms": 500.0, "error_rate_pct": 1.0,
    "cost_per_request_usd": 0.0001, "memory_max_mb": None, "memory_growth_mb_per_10k": 16.0, "min_samples": 200,
}
