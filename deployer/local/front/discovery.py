"""How other processes find a running emulator, and call its control API.

`deployer local up` writes `<project>/.deployer/local/emulator.json` (endpoints and pid) with
`write_discovery`; `find_emulator` reads it and checks that the emulator answers;
`EmulatorClient` calls the control API (`deployer.local.front.control`) of the one it found.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from deployer.errors import DeployerError
from deployer.local.state.store import DISCOVERY_FILE, write_json_atomic

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

    def why_missing(self, request_id: str) -> str | None:
        """Why the emulator's request log has no record `request_id` (None when it has one)."""
        from urllib.parse import quote

        found = self.get(f"/request-log?id={quote(request_id, safe='')}")
        return None if found.get("recorded") else str(found.get("why_missing"))

    def rollback(self, *, reason: str, to_version: str | None = None, who: str | None = None) -> dict[str, Any]:
        return dict(self.post("/rollback", {"reason": reason, "to_version": to_version, "who": who}, timeout_s=60))
