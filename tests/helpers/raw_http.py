"""Raw HTTP/1.1 over a socket on 127.0.0.1: what a hostile or broken client sends, byte for byte.

`exchange` sends bytes (optionally in pieces, with pauses: a slow writer) and reads one response
with `http.client.HTTPResponse`; it returns None when the server closed without answering.
Also: a bundle for the emulator whose `hold` action blocks until a file appears (so a test can
keep requests in flight as long as it needs, without timing), and tells its pid.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path

from deployer.compiled import DeploymentModel
from deployer.local.bundles.testkit import write_stub_bundle


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(address: tuple[str, int], pieces: Sequence[bytes], *, pause_s: float = 0.0,
             timeout_s: float = 30.0, method: str = "POST") -> RawResponse | None:
    """Send `pieces` (pausing between them), then read one response; None if the server just closed."""
    with socket.create_connection(address, timeout=timeout_s) as sock:
        try:
            for i, piece in enumerate(pieces):
                if i and pause_s:
                    time.sleep(pause_s)
                sock.sendall(piece)
        except OSError:  # the server answered and closed while we were still sending
            pass
        response = HTTPResponse(sock, method=method)  # a HEAD answer has no body
        try:
            response.begin()
            body = response.read()
        except (HTTPException, ConnectionError):
            return None
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A well-formed request (Content-Length framing) unless `headers` says otherwise."""
    head = {"host": "127.0.0.1", "content-length": str(len(body)), **(headers or {})}
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


HOLD_RUNTIME = r'''
import json, os, sys, time

RELEASE = os.environ.get("TEST_RELEASE_FILE", "")


def handler(event, context):
    action = (event.get("rawPath") or "/").strip("/")
    if action == "hold":  # blocks until the test creates the release file (at most 60 s)
        deadline = time.time() + 60
        while RELEASE and not os.path.exists(RELEASE) and time.time() < deadline:
            time.sleep(0.01)
    if action == "exit":
        os._exit(3)
    if action == "slow":
        time.sleep(30)
    record = {"event": "request", "request_id": context.aws_request_id, "ts": int(time.time() * 1000),
              "action": action, "version": context.function_version, "status": 200, "outcome": "ok",
              "memory_mb": 42.7}
    sys.stdout.write(json.dumps(record) + "\n")
    body = {"pid": os.getpid(), "init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")}
    return {"statusCode": 200, "body": json.dumps(body)}
'''


def build_hold_bundle(model: DeploymentModel, out_dir: Path) -> Path:
    """A bundle whose `hold` waits for $TEST_RELEASE_FILE, `exit` kills its process, `slow` sleeps 30 s."""
    return write_stub_bundle(model, out_dir, HOLD_RUNTIME)
