"""The emulator's control API, and how other CLI processes find a running emulator.

moto holds the AWS state, so ops code reads functions, aliases and alarms over boto3 like it
would in AWS. What moto cannot hold (rollout progress, the timeline, recorded notifications) and
what must happen inside the emulator process (deploys and rollbacks, which drive the rollout
engine) go through this small JSON API on 127.0.0.1:

    GET  /health    GET /status    GET /alerts?limit=N    GET /logs?limit=N    GET /timeline
    POST /deploy    {"model": DeploymentModel.to_dict(), "faults": {...}, "wait": false}
    POST /rollback  {"reason": "...", "to_version": null, "who": "..."}
    POST /flush     wait until every request so far is in the request log (and metrics in moto)

`deployer local up` writes `<project>/.deployer/local/emulator.json` (endpoints and pid);
`find_emulator` reads it and checks that the emulator answers.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from deployer.errors import DeployerError
from deployer.local.loopback import LoopbackServer
from deployer.local.state import DISCOVERY_FILE, write_json_atomic

if TYPE_CHECKING:
    from deployer.local.emulator import Emulator

LOCAL_DIR = Path(".deployer") / "local"


def state_dir_for(spec_path: str | Path | None) -> Path:
    """Where a project's emulator keeps its state: `<spec dir>/.deployer/local` (or $DEPLOYER_LOCAL_DIR)."""
    override = os.environ.get("DEPLOYER_LOCAL_DIR")
    if override:
        return Path(override).resolve()
    base = Path(spec_path).resolve().parent if spec_path else Path.cwd()
    return base / LOCAL_DIR


def write_discovery(state_dir: Path, endpoints: dict[str, Any]) -> None:
    write_json_atomic(state_dir / DISCOVERY_FILE, {**endpoints, "pid": os.getpid()})


def remove_discovery(state_dir: Path) -> None:
    path = state_dir / DISCOVERY_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def find_emulator(state_dir: Path) -> dict[str, Any] | None:
    """The running emulator's endpoints, or None when none answers."""
    try:
        found = json.loads((state_dir / DISCOVERY_FILE).read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(found["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None
    try:
        EmulatorClient(found["control_url"]).get("/health", timeout_s=3)
    except DeployerError:
        return None
    return dict(found)


def require_emulator(state_dir: Path) -> EmulatorClient:
    found = find_emulator(state_dir)
    if found is None:
        raise DeployerError(f"no local emulator is running for this project (looked in {state_dir})",
                            hint="start one with `deployer local up` in another terminal")
    return EmulatorClient(found["control_url"], found)


class EmulatorClient:
    """Calls the control API of a running emulator."""

    def __init__(self, control_url: str, endpoints: dict[str, Any] | None = None) -> None:
        self.url = control_url.rstrip("/")
        self.endpoints = endpoints or {}

    def _call(self, method: str, path: str, body: Any = None, timeout_s: float = 30.0) -> Any:
        data = None if body is None else json.dumps(body, default=str).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            try:
                problem = json.loads(exc.read())
            except ValueError:
                problem = {"error": str(exc)}
            raise DeployerError(problem.get("error", str(exc)), hint=problem.get("hint")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeployerError(f"the local emulator at {self.url} does not answer: {exc}",
                                hint="is `deployer local up` still running?") from None

    def get(self, path: str, timeout_s: float = 30.0) -> Any:
        return self._call("GET", path, timeout_s=timeout_s)

    def post(self, path: str, body: Any, timeout_s: float = 30.0) -> Any:
        return self._call("POST", path, body, timeout_s=timeout_s)

    def status(self) -> dict[str, Any]:
        return dict(self.get("/status"))

    def alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.get(f"/alerts?limit={limit}"))

    def flush(self) -> dict[str, Any]:
        """Wait until the emulator has written every request so far into the request log."""
        return dict(self.post("/flush", {}, timeout_s=60))

    def rollback(self, *, reason: str, to_version: str | None = None, who: str | None = None) -> dict[str, Any]:
        return dict(self.post("/rollback", {"reason": reason, "to_version": to_version, "who": who}, timeout_s=60))


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


def _deploy(emu: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    from deployer.local.release import Faults
    from deployer.local.serde import model_from_dict

    model = model_from_dict(body["model"]) if body.get("model") else None
    faults = Faults(**{k: v for k, v in (body.get("faults") or {}).items() if v is not None})
    result = emu.deploy(model, faults=faults, wait=bool(body.get("wait")), description=body.get("description") or "")
    return {"version": result.version, "created": result.created, "message": result.message,
            "rollout": result.rollout}


class _ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class ControlServer(LoopbackServer):
    def __init__(self, emulator: Emulator, *, port: int = 0) -> None:
        super().__init__(_ControlServer(("127.0.0.1", port), emulator), name="control")
