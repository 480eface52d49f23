"""The emulator's operational log: every timeline event, through structlog.

Each event (`Emulator._event` and the rollout engine's steps) becomes one JSON line appended to
`<state_dir>/events.log`, and optionally one concise line on a console stream (`deployer local
up` in the foreground). A JSON line::

    {"agent": "support-router", "environment": "local", "at": 1764144000.0,
     "time": "2026-11-26T08:00:00Z", "message": "step 1/3: 5 % of traffic on version 2",
     "version": "2", "percent": 5.0, "level": "info", "wall_time": "2026-11-26T08:00:01.532Z",
     "event": "shift"}

`event` is the timeline's `kind`; `at` / `time` are the emulated clock, `wall_time` the real one.
Loggers are built per instance with `structlog.wrap_logger` and explicit processors, never with
`structlog.configure`: nothing global changes, and two emulators in one process log apart.
structlog is imported when an `EventLog` is created, not when `deployer` is.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, TextIO

EVENTS_FILE = "events.log"

#: Levels of the timeline's kinds (others are "info"); an alarm going to ALARM is a warning too.
_LEVELS = {"warning": "warning", "rollback": "warning", "hold": "warning", "worker": "warning"}
#: The fields the console shows after the message (the JSON line has them all).
_CONSOLE_FIELDS = ("version", "percent", "alarm", "state")


def level_of(event: dict[str, Any]) -> str:
    if event.get("kind") == "alarm" and event.get("state") == "ALARM":
        return "warning"
    return _LEVELS.get(str(event.get("kind")), "info")


class _AppendFile:
    """A file-like that appends each write to `path` (opened per write: events are rare, and an
    emulator that never stops cleanly still leaves a complete log).

    A write that fails (a full disk, a missing or read-only directory) is kept, in order, and
    written before the next line that can be: up to `KEEP_UNWRITTEN` lines, past which the oldest
    are dropped (and counted). The timeline in memory has every event meanwhile."""

    KEEP_UNWRITTEN = 10_000

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dropped = 0
        self._unwritten: list[str] = []
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return len(self._unwritten)

    def write(self, text: str) -> int:
        with self._lock:
            self._unwritten.append(text)
            return self._write_locked()

    def retry(self) -> bool:
        """Write what is waiting; True when nothing is left."""
        with self._lock:
            if self._unwritten:
                self._write_locked()
            return not self._unwritten

    def _write_locked(self) -> int:
        text = "".join(self._unwritten)
        try:
            with self.path.open("a", encoding="utf-8") as f:
                written = f.write(text)
        except OSError:
            excess = len(self._unwritten) - self.KEEP_UNWRITTEN
            if excess > 0:
                del self._unwritten[:excess]
                self.dropped += excess
            return 0
        self._unwritten.clear()
        return written

    def flush(self) -> None:
        return None


class EventLog:
    """Writes timeline events as structlog events: JSON lines to a file, and optionally a console."""

    def __init__(self, path: Path, *, console: TextIO | None = None, colors: bool | None = None) -> None:
        import structlog

        self.path = path
        self._file = _AppendFile(path)
        self._json = structlog.wrap_logger(
            structlog.WriteLogger(self._file),  # type: ignore[arg-type]
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="wall_time"),
                structlog.processors.JSONRenderer(default=str),
            ],
            wrapper_class=structlog.BoundLogger,
            context_class=dict,
            cache_logger_on_first_use=True,
        )
        self._console: Any = None
        if console is not None:
            if colors is None:
                isatty = getattr(console, "isatty", None)
                colors = bool(isatty and isatty())
            self._console = structlog.wrap_logger(
                structlog.WriteLogger(console),
                processors=[
                    structlog.processors.add_log_level,
                    structlog.dev.ConsoleRenderer(colors=colors, pad_event_to=0, sort_keys=False),
                ],
                wrapper_class=structlog.BoundLogger,
                context_class=dict,
                cache_logger_on_first_use=True,
            )

        self._bound: tuple[str, str, Any] = ("", "", self._json)

    def _for(self, agent: str, environment: str) -> Any:
        """The JSON logger bound with agent and environment (bound again when the emulator's model changes)."""
        bound = self._bound
        if (bound[0], bound[1]) != (agent, environment):
            bound = (agent, environment, self._json.bind(agent=agent, environment=environment))
            self._bound = bound
        return bound[2]

    def emit(self, event: dict[str, Any], *, agent: str, environment: str) -> None:
        """One timeline event (`kind`, `message`, `at`, `time`, extra fields) to the file and console."""
        fields = {k: v for k, v in event.items() if k not in ("kind", "event", "level", "agent", "environment")}
        kind = str(event.get("kind", "event"))
        level = level_of(event)
        getattr(self._for(agent, environment), level)(kind, **fields)
        console = self._console
        if console is not None:
            shown = {k: event[k] for k in _CONSOLE_FIELDS if event.get(k) is not None}
            getattr(console, level)(str(event.get("message", kind)), timestamp=event.get("time"), kind=kind, **shown)

    @property
    def dropped(self) -> int:
        """Lines lost: more than `_AppendFile.KEEP_UNWRITTEN` could not be written."""
        return self._file.dropped

    @property
    def pending(self) -> int:
        """Lines waiting to be written (the file could not be written to)."""
        return self._file.pending

    def retry(self) -> bool:
        """Write the lines waiting; True when none is left."""
        return self._file.retry()
