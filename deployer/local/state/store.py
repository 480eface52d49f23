"""What the emulator persists, so that a restart never leaves a silent half-shifted alias.

moto keeps its state in memory; the emulator writes its own record to `<state dir>/state.json`
after every change (atomically: temp file + rename): the published versions (bundle directory,
environment, hashes), the alias weights, the stable version, the rollout in progress with its
step, and a timeline of events. On start the emulator replays the versions into moto (same
numbers, same order) and, if a rollout was unfinished, rolls back or resumes it *explicitly*.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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


def load_state(state_dir: Path) -> EmulatorState | None:
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    return EmulatorState.from_dict(json.loads(path.read_text()))


def save_state(state_dir: Path, state: EmulatorState) -> None:
    write_json_atomic(state_dir / STATE_FILE, state.to_dict())


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)
