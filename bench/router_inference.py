"""Benchmark the support router's pure-Python inference; prints one JSON object.

    .venv/bin/python bench/router_inference.py [--repeat 3] [--artifact PATH]

Measures, in this process and with the standard library only (scikit-learn is blocked):
- `load_ms`: reading and decoding `model/router.json` (what a Lambda cold start pays once);
- `p50_ms` / `p95_ms` / `p99_ms` / `max_ms` / `mean_ms`: wall time of `predict()` per message,
  over every held-out message `--repeat` times (the first pass warms nothing up: there is no cache);
- `cpu_p50_ms` / `cpu_p99_ms`: the same in thread CPU time, which other processes on a busy
  machine do not inflate (compare the two: a large gap means the machine was contended);
- `artifact_bytes`, and the model's `nonzero_weights` and vocabulary size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent.parent / "samples" / "support_router"


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    index = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, default=SAMPLE_DIR / "model" / "router.json")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    sys.modules["sklearn"] = None  # type: ignore[assignment]  # prove inference does not need it
    sys.modules["numpy"] = None  # type: ignore[assignment]
    sys.path.insert(0, str(SAMPLE_DIR))
    from router_data import holdout_examples
    from router_model import load_artifact

    start = time.perf_counter()
    model = load_artifact(args.artifact)
    load_ms = (time.perf_counter() - start) * 1000
    texts = [e.text for e in holdout_examples()]

    timings: list[float] = []
    cpu: list[float] = []
    for _ in range(args.repeat):
        for text in texts:
            c0, t0 = time.thread_time(), time.perf_counter()
            model.predict(text)
            timings.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
    timings.sort()
    cpu.sort()
    result = {
        "messages": len(texts),
        "predictions": len(timings),
        "p50_ms": round(percentile(timings, 50), 4),
        "p95_ms": round(percentile(timings, 95), 4),
        "p99_ms": round(percentile(timings, 99), 4),
        "max_ms": round(timings[-1], 4),
        "mean_ms": round(statistics.fmean(timings), 4),
        "cpu_p50_ms": round(percentile(cpu, 50), 4),
        "cpu_p99_ms": round(percentile(cpu, 99), 4),
        "load_ms": round(load_ms, 1),
        "artifact_bytes": args.artifact.stat().st_size,
        "vocabulary": sum(len(block.idf) for block in model.blocks),
        "nonzero_weights": sum(len(block.weights) + len(block.team_weights) for block in model.blocks),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
