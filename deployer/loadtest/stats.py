"""Exact statistics over per-request records (pure functions, no numpy needed).

Percentiles use the nearest-rank method: the p-th percentile of n latencies is the
``ceil(p/100 * n)``-th smallest, so it is always the latency of a request that happened.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from deployer.loadtest.records import RequestRecord


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted values; None when there are none."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Slope:
    per_unit: float  # change of y per unit of x
    intercept: float
    samples: int


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> Slope | None:
    """Ordinary least squares; None with fewer than two distinct x values."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    per_unit = sxy / sxx
    return Slope(per_unit=per_unit, intercept=my - per_unit * mx, samples=n)


@dataclass(frozen=True)
class Bucket:
    """One second (or `width_s`) of the run."""

    start_s: float  # seconds since the run started
    sent: int
    ok: int
    failed: int
    timed_out: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def time_buckets(records: Iterable[RequestRecord], *, origin: float, width_s: float = 1.0,
                 max_buckets: int = 10_000) -> list[Bucket]:
    """Group requests by when they were sent; latency percentiles per bucket."""
    grouped: dict[int, list[RequestRecord]] = {}
    for record in records:
        index = int((record.t - origin) // width_s)
        if 0 <= index < max_buckets:
            grouped.setdefault(index, []).append(record)
    if not grouped:
        return []
    buckets = []
    for index in range(max(grouped) + 1):
        group = grouped.get(index, [])
        latencies = sorted(r.ms for r in group)
        buckets.append(Bucket(
            start_s=index * width_s,
            sent=len(group),
            ok=sum(1 for r in group if r.outcome == "ok"),
            failed=sum(1 for r in group if r.outcome == "failed"),
            timed_out=sum(1 for r in group if r.outcome == "timeout"),
            p50_ms=percentile(latencies, 50),
            p95_ms=percentile(latencies, 95),
            p99_ms=percentile(latencies, 99),
        ))
    return buckets


class LiveWindow:
    """Live rps and p99 over the last `window_s` seconds of completed requests (for the bar)."""

    def __init__(self, window_s: float = 5.0, max_items: int = 200_000) -> None:
        self.window_s = window_s
        self.max_items = max_items
        self._items: list[tuple[float, float]] = []  # (end time, latency ms)

    def add(self, records: Iterable[RequestRecord]) -> None:
        self._items.extend((r.end, r.ms) for r in records)
        if len(self._items) > self.max_items:
            self._items = self._items[-self.max_items:]

    def figures(self, now: float) -> tuple[float, float | None]:
        """(requests per second, p99 ms) over the window ending at `now`."""
        cutoff = now - self.window_s
        self._items = [item for item in self._items if item[0] >= cutoff]
        latencies = sorted(ms for _, ms in self._items)
        return len(latencies) / self.window_s, percentile(latencies, 99)
