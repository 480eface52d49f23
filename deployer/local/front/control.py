"""The emulator's control API: a small JSON server on 127.0.0.1, served from the emulator's process.

moto holds the AWS state, so ops code reads functions, aliases and alarms over boto3 like it
would in AWS. What moto cannot hold (rollout progress, the timeline, recorded notifications) and
what must happen inside the emulator process (deploys and rollbacks, which drive the rollout
engine) go through this small JSON API on 127.0.0.1:

    GET  /health    GET /status    GET /alerts?limit=N    GET /logs?limit=N    GET /timeline
    GET  /request-log?id=ID   {"id", "recorded", "why_missing"}: why the request log has no record ID
    POST /deploy    {"model": DeploymentModel.to_dict(), "faults": {...}, "wait": false}
    POST /rollback  {"reason": "...", "to_version": null, "who": "..."}
    POST /flush     wait until every request so far is in the request log (and metrics in moto)

Other processes find a running emulator and call this API through `deployer.local.front.discovery`.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.local.bundles.loopback import LoopbackServer
from deployer.local.bundles.release import DeployResult, Faults
from deployer.local.state.serde import model_from_dict


class Controlled(Protocol):
    """What the control API calls: the `Emulator`'s operations (named here, so this module does
    not import the emulator that serves it)."""

    def endpoints(self) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def alerts(self, limit: int = 100) -> list[dict[str, Any]]: ...

    def logs(self, limit: int = 100) -> list[str]: ...

    def timeline(self, since: float | None = None) -> list[dict[str, Any]]: ...

    def flush(self) -> dict[str, Any]: ...

    def why_missing(self, request_id: str) -> str | None: ...

    def deploy(self, model: DeploymentModel | None = None, *, faults: Faults | None = None, wait: bool = False,
               timeout_s: float | None = None, description: str = "") -> DeployResult: ...

    def rollback(self, *, reason: str = "manual rollback", to_version: str | None = None,
                 who: str | None = None) -> dict[str, Any]: ...


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ControlServer

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}") if length else {}
        return data if isinstance(data, dict) else {}

    def do_GET(self) -> None:
        emu = self.server.emulator
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        limit = int(query.get("limit", "100"))
        routes = {
            "/health": lambda: {"ok": True, **emu.endpoints()},
            "/status": emu.status,
            "/alerts": lambda: emu.alerts(limit),
            "/logs": lambda: emu.logs(limit),
            "/timeline": lambda: emu.timeline(float(query["since"]) if "since" in query else None),
            "/request-log": lambda: _why(emu, query.get("id", "")),
        }
        route = routes.get(parts.path)
        if route is None:
            self._send(404, {"error": f"no such endpoint {parts.path}"})
            return
        self._guarded(route)

    def do_POST(self) -> None:
        emu = self.server.emulator
        path = urlsplit(self.path).path
        try:
            body = self._body()
        except ValueError:
            self._send(400, {"error": "the body is not JSON"})
            return
        if path == "/deploy":
            self._guarded(lambda: _deploy(emu, body))
        elif path == "/flush":
            self._guarded(emu.flush)
        elif path == "/rollback":
            self._guarded(lambda: emu.rollback(reason=body.get("reason") or "manual rollback",
                                               to_version=body.get("to_version"), who=body.get("who")))
        else:
            self._send(404, {"error": f"no such endpoint {path}"})

    def _guarded(self, action: Any) -> None:
        try:
            self._send(200, action())
        except DeployerError as exc:
            self._send(409, {"error": exc.message, "hint": exc.hint})
        except Exception as exc:  # a bug: report it, keep serving
            self._send(500, {"error": f"{type(exc).__name__}: {exc}"})


def _why(emu: Controlled, request_id: str) -> dict[str, Any]:
    if not request_id:
        raise DeployerError("which request? GET /request-log?id=<request id>")
    why = emu.why_missing(request_id)
    return {"id": request_id, "recorded": why is None, "why_missing": why}


def _deploy(emu: Controlled, body: dict[str, Any]) -> dict[str, Any]:
    model = model_from_dict(body["model"]) if body.get("model") else None
    faults = Faults(**{k: v for k, v in (body.get("faults") or {}).items() if v is not None})
    result = emu.deploy(model, faults=faults, wait=bool(body.get("wait")), description=body.get("description") or "")
    return {"version": result.version, "created": result.created, "message": result.message,
            "rollout": result.rollout}


class _ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Controlled) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class ControlServer(LoopbackServer):
    def __init__(self, emulator: Controlled, *, port: int = 0) -> None:
        super().__init__(_ControlServer(("127.0.0.1", port), emulator), name="control")
