"""CPU time, for the tests that check a scan is linear against a trivial scan of the same text.

The least CPU time of this thread over a few runs: time other processes held the core is not
counted, so a busy machine does not make a linear scan look quadratic (in wall time, under four
suites at once on 2 cores, a 1 MB redaction scan measured 61x its baseline; in CPU time, 19x).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def best_cpu_s(runs: int, call: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        call()
        best = min(best, time.thread_time() - start)
    return best
