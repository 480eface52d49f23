"""A loopback HTTP receiver standing in for PagerDuty and Slack, and the flagship's local model
pointed at one.

The root agent.yaml's local environment pages http://127.0.0.1:9999, where `make demo`'s receiver
listens. Tests never send there: a test that runs while a demo runs would otherwise show its pages
in the demo (and depend on whatever holds that port). `flagship_local()` sends them to a receiver
of the test process instead. (No suite-wide tripwire listens on 9999 to enforce it: it would take
the port from a demo started during the run. One full run with such a tripwire, on 62efcb4, saw
no page.)
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.compiler import compile_environment
from deployer.spec import load_spec
from tests.helpers.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """Keeps every JSON body it is sent, as (path, body), and answers 202; on a free port."""

    def __init__(self) -> None:
        received: list[tuple[str, dict[str, Any]]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append((self.path, json.loads(body)))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, path: str, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The bodies sent to `path`, once there is one (empty if none came within `timeout_s`)."""
        try:
            return wait_until(lambda: [body for p, body in self.received if p == path], timeout_s=timeout_s)
        except AssertionError:
            return []


_process_receiver: Receiver | None = None
_process_receiver_lock = threading.Lock()


def process_receiver() -> Receiver:
    """One receiver for every test of this process that does not look at what it is sent."""
    global _process_receiver
    with _process_receiver_lock:
        if _process_receiver is None:
            _process_receiver = Receiver()
        return _process_receiver


def with_receiver(model: DeploymentModel, receiver: Receiver | None = None) -> DeploymentModel:
    """`model` with every notification sent to `receiver` (`/<kind>`), by default the process's."""
    url = (receiver or process_receiver()).url
    return replace(model, notifications=tuple(replace(n, endpoint=f"{url}/{n.kind}") for n in model.notifications))


def flagship_local(spec: Path = ROOT / "agent.yaml", receiver: Receiver | None = None) -> DeploymentModel:
    """The local environment of `spec` (the root agent.yaml by default), paging `receiver`."""
    return with_receiver(compile_environment(load_spec(spec), "local"), receiver)
