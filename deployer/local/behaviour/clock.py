"""Clocks for the emulator: emulated time that can run faster than the wall clock.

Every decision in the emulator (alarm periods, bakes, rollout steps) is taken in *emulated*
seconds. `ScaledClock(time_scale=60)` makes one real second worth one emulated minute, so a
five-minute bake and one-minute alarm periods run in seconds with the same decisions as real
time. Handler execution (latency, timeouts) always stays in real time: only waiting is scaled.

`ManualClock` moves only when told to; unit tests use it to step through schedules exactly.
`iso` writes an emulated time the way the timeline and the notifications show it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Protocol


def iso(ts: float) -> str:
    """Epoch seconds -> `2026-11-26T08:00:00.000Z` (UTC, milliseconds)."""
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Clock(Protocol):
    """Emulated epoch seconds and waits measured in emulated seconds."""

    @property
    def time_scale(self) -> float: ...

    def now(self) -> float: ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to `seconds` emulated seconds for `event`; True if it was set."""
        ...


class ScaledClock:
    """Emulated time = origin + real elapsed time x `time_scale`."""

    def __init__(self, time_scale: float = 1.0, *, origin: float | None = None) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self._scale = float(time_scale)
        self._mono0 = time.monotonic()
        self._origin = time.time() if origin is None else origin

    @property
    def time_scale(self) -> float:
        return self._scale

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._mono0) * self._scale

    def real_seconds(self, emulated_s: float) -> float:
        return max(0.0, emulated_s) / self._scale

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(self.real_seconds(seconds))


class ManualClock:
    """A clock that only moves when `advance` (or a wait) moves it. For tests."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    @property
    def time_scale(self) -> float:
        return float("inf")

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += max(0.0, seconds)
            return self._now

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.advance(seconds)
        return event.is_set()
