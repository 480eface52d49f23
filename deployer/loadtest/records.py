"""What crosses the process boundary between the deployer and the locust generator.

The deployer writes `GeneratorSettings` as JSON; the single locust process or the master reads it
(path in the ``DEPLOYER_LOADTEST_SETTINGS`` environment variable; workers get it from the master,
see `distributed`) and one JSON line per request is appended to
``requests-<phase>-<worker>.jsonl`` in the results directory. `ResultsTail` reads those files while the
run is going (live progress) and after it (the gate). This module imports nothing heavy: it is
loaded by both processes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

SETTINGS_ENV = "DEPLOYER_LOADTEST_SETTINGS"
RESULTS_GLOB = "requests-*.jsonl"
META_GLOB = "generator-*.json"

Outcome = Literal["ok", "failed", "timeout"]
Mode = Literal["rate", "closed"]


@dataclass(frozen=True)
class GeneratorSettings:
    """Everything one locust run needs. `rps` is the total asked rate across all workers."""

    target_url: str
    action: str
    mode: Mode  # "rate": paced at `rps`; "closed": every user back-to-back (concurrency sweep)
    phase: str  # "rate" or "concurrency:<level>"
    rps: float
    users: int
    workers: int
    duration_s: float
    input_file: str
    distribution: str
    weight_field: str | None
    seed: int
    timeout_s: float
    results_dir: str
    sigv4_region: str | None = None
    warmup: int = 0  # requests per process sent before the schedule starts, not judged
    label: str = ""  # agent/environment, for a worker's log
    phase_number: int = 1  # of `phases`: a worker on another host knows whether another follows
    phases: int = 1
    # Where the master listens when its workers run on other hosts (None: on 127.0.0.1, started here).
    master_bind_host: str | None = None
    master_port: int | None = None
    join_timeout_s: float = 30.0  # the master waits this long for `workers` to join

    @property
    def remote_workers(self) -> bool:
        return self.master_port is not None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> GeneratorSettings:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(**data)

    @classmethod
    def from_env(cls) -> GeneratorSettings:
        return cls.read(os.environ[SETTINGS_ENV])


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the generator saw it. Times are epoch seconds; latency is exact (ms)."""

    t: float  # when it was sent
    ms: float  # latency, from send to the last byte of the response
    status: int  # HTTP status, 0 when no response came back
    outcome: Outcome
    phase: str
    worker: str
    lag_ms: float = 0.0  # how late it left against its scheduled slot (rate mode)
    error: str | None = None  # error type (runtime's error.type, HTTP status or exception)
    request_id: str | None = None
    cost_usd: float | None = None
    memory_mb: float | None = None
    confidence: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_index: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def end(self) -> float:
        return self.t + self.ms / 1000.0

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RequestRecord:
        return cls(**data)


class ResultsTail:
    """Reads the per-request files of a results directory incrementally (only whole lines)."""

    def __init__(self, results_dir: str | Path) -> None:
        self.results_dir = Path(results_dir)
        self._offsets: dict[Path, int] = {}
        self.corrupt_lines = 0

    def read_new(self) -> list[RequestRecord]:
        fresh: list[RequestRecord] = []
        for path in sorted(self.results_dir.glob(RESULTS_GLOB)):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            end = chunk.rfind(b"\n")
            if end < 0:
                continue
            self._offsets[path] = offset + end + 1
            for line in chunk[: end + 1].splitlines():
                if not line.strip():
                    continue
                try:
                    fresh.append(RequestRecord.from_dict(json.loads(line)))
                except (ValueError, TypeError):
                    self.corrupt_lines += 1
        return fresh


def read_generator_meta(results_dir: str | Path) -> list[dict[str, Any]]:
    """The CPU accounting each generator process wrote when it quit."""
    metas: list[dict[str, Any]] = []
    for path in sorted(Path(results_dir).glob(META_GLOB)):
        try:
            metas.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
    return metas
