"""What the emulator persists, so that a restart never leaves a silent half-shifted alias.

moto keeps its state in memory; the emulator writes its own record to `<state dir>/state.json`
after every change (atomically: temp file + rename): the published versions (bundle directory,
environment, hashes), the alias weights, the stable version, the rollout in progress with its
step, and a timeline of events. On start the emulator replays the versions into moto (same
numbers, same order) and, if a rollout was unfinished, rolls back or resumes it *explicitly*
(`deployer.local.front.restore`).

`StateStore` holds that record while the emulator runs: one lock for every reader and writer,
timeline events added in order (and written to `events.log` in the same order), `persist` to save.
A save that fails (a full disk, a read-only directory) never stops the thread that asked for it:
the store stays `dirty`, `health` says so (status, events.log) and the emulator's recovery loop
saves again until it works. At start, a state file that cannot be read or written is an error
that names the file and what to do: the emulator never starts over silently.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployer.errors import DeployerError
from deployer.local.behaviour.clock import iso
from deployer.local.state.health import Health

if TYPE_CHECKING:
    from deployer.local.state.event_log import EventLog

STATE_FILE = "state.json"
DISCOVERY_FILE = "emulator.json"
TIMELINE_LIMIT = 500


@dataclass
class VersionRecord:
    version: str
    bundle_dir: str
    environment: dict[str, str]
    code_hash: str
    config_hash: str
    spec_hash: str
    created_at: float
    faults: dict[str, float] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source_hash: str = ""  # what the bundle was built from (`deployer.local.front.sources`)


@dataclass
class EmulatorState:
    agent: str
    environment: str
    versions: list[VersionRecord] = field(default_factory=list)
    primary: str | None = None
    additional: dict[str, float] = field(default_factory=dict)
    stable_version: str | None = None
    stable_history: list[str] = field(default_factory=list)  # stable versions, oldest first
    rollout: dict[str, Any] | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)

    def version(self, number: str) -> VersionRecord | None:
        return next((v for v in self.versions if v.version == number), None)

    @property
    def latest(self) -> VersionRecord | None:
        return self.versions[-1] if self.versions else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmulatorState:
        data = dict(data)
        data["versions"] = [VersionRecord(**v) for v in data.get("versions", [])]
        return cls(**data)

    def add_event(self, event: dict[str, Any]) -> None:
        self.timeline.append(event)
        del self.timeline[:-TIMELINE_LIMIT]


class StateStore:
    """The emulator's `EmulatorState` under one lock, its timeline, and `state.json`."""

    def __init__(self, state_dir: Path, state: EmulatorState, *, event_log: EventLog, now: Callable[[], float]) -> None:
        self.state_dir = state_dir
        self.state = state
        self.lock = threading.RLock()
        self._event_log = event_log
        self._now = now
        self.health = Health(on_event=self.event, now=now)
        self.dirty = False  # a change that is not in state.json yet (its save failed)

    def event(self, kind: str, message: str, **extra: Any) -> dict[str, Any]:
        """Add a timeline event stamped with the emulated time; returns it."""
        at = self._now()
        event = {"at": at, "time": iso(at), "kind": kind, "message": message, **extra}
        self.record(event)
        return event

    def record(self, event: dict[str, Any]) -> None:
        """Add an event to the timeline and, in the same order, to the operational log (events.log)."""
        with self.lock:
            self.state.add_event(event)
            self._event_log.emit(event, agent=self.state.agent, environment=self.state.environment)

    def persist(self) -> bool:
        """Save state.json; False (and a problem in `health`, the store left `dirty`) when it failed."""
        error: OSError | None = None
        with self.lock:
            try:
                save_state(self.state_dir, self.state)
            except OSError as exc:
                error = exc
            self.dirty = error is not None
        if error is not None:
            self.health.failed("state", f"saving {self.state_dir / STATE_FILE}", error)
            return False
        self.health.ok("state")
        return True

    def persist_or_fail(self) -> None:
        """Save state.json now or raise a `DeployerError` saying which file and what to do (at start)."""
        path = self.state_dir / STATE_FILE
        with self.lock:
            try:
                save_state(self.state_dir, self.state)
            except OSError as exc:
                raise DeployerError(f"cannot write the emulator's state file {path}: {exc.strerror or exc}",
                                    hint=f"free disk space or make {self.state_dir} writable; the emulator keeps its "
                                         "versions and rollout there to survive a restart") from None
            self.dirty = False

    def timeline(self, since: float | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self.state.timeline if since is None or e["at"] >= since]

    def saved_rollout(self) -> dict[str, Any] | None:
        """The last rollout as recorded (the running one is read from its engine)."""
        with self.lock:
            return dict(self.state.rollout) if self.state.rollout else None

    def bundle_of(self, version: str) -> tuple[Path, dict[str, str]] | None:
        """A published version's bundle directory and environment (what its worker runs)."""
        record = self.state.version(version)
        return None if record is None else (Path(record.bundle_dir), record.environment)

    def set_stable(self, version: str) -> None:
        with self.lock:
            self.state.stable_version = version
            if not self.state.stable_history or self.state.stable_history[-1] != version:
                self.state.stable_history.append(version)

    def rollback_target(self, to_version: str | None) -> tuple[str | None, str]:
        """(the version serving now, the version to roll back to): the named one, or the stable one before."""
        with self.lock:
            current = self.state.primary
            history = [v for v in self.state.stable_history if v != current]
            target = to_version or (history[-1] if history else None)
            if target is None:
                raise DeployerError("no previous version to roll back to: "
                                    + (f"version {current} is the only one deployed" if current else "nothing is deployed"))
            if self.state.version(target) is None:
                raise DeployerError(f"no version {target}; versions: {', '.join(v.version for v in self.state.versions)}")
        return current, target


def load_state(state_dir: Path) -> EmulatorState | None:
    """The saved state, None when there is none; a `DeployerError` naming the file when it cannot be read."""
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    aside = f"mv {path} {path}.broken"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployerError(f"cannot read the emulator's state file {path}: {getattr(exc, 'strerror', None) or exc}",
                            hint=f"make it readable, or move it aside to start from scratch ({aside})") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        return EmulatorState.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DeployerError(f"the emulator's state file {path} is corrupt ({type(exc).__name__}: {exc})",
                            hint=f"restore it from a copy, or move it aside to start from scratch ({aside}); the "
                                 "emulator does not reset it on its own") from None


def save_state(state_dir: Path, state: EmulatorState) -> None:
    write_json_atomic(state_dir / STATE_FILE, state.to_dict())


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` to `path` through a temporary file and a rename: a reader sees the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, default=str))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
