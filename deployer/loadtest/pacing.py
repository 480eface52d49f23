"""The schedule that holds a request rate (used inside each locust process; no locust import)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Pacer:
    """One schedule per process: slot k leaves at start + k / rate; at most rate x duration slots.

    The first `warmup` requests go out at once and are not judged (phase "warmup": cold starts,
    connection set-up); the schedule starts when they have all been answered.
    """

    def __init__(self, rate: float, duration_s: float, warmup: int = 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.interval = 1.0 / rate
        self.limit = max(1, math.floor(rate * duration_s + 1e-9))
        self.count = 0
        self.start: float | None = None
        self.warmup = warmup
        self.warmup_sent = 0
        self.warmup_answered = 0

    def next_slot(self) -> tuple[str, float]:
        """("warmup", 0) | ("wait", 0) | ("send", when) | ("done", 0)."""
        if self.warmup_sent < self.warmup:
            self.warmup_sent += 1
            return "warmup", 0.0
        if self.warmup_answered < self.warmup:
            return "wait", 0.0
        now = self.clock()
        if self.start is None:
            self.start = now
        if self.count >= self.limit:
            return "done", 0.0
        slot = self.start + self.count * self.interval
        self.count += 1
        return "send", slot

    @property
    def done(self) -> bool:
        return self.count >= self.limit
