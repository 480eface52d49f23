"""Benchmark: the flagship agent's local load test, and where cold starts and throttles begin.

Starts the emulator with the flagship (agent.yaml, env local, its real bundle), then:

1. `load_test`: the load test `deployer loadtest --env local --rps 300` runs (the same plan and
   locust generator, `--duration`), judged against the spec's SLOs. Baseline in the same run: the
   same plan against a trivial HTTP server (bench/loadgen.py's), i.e. what the generator holds on
   this machine alone: `ratio_to_baseline` is achieved rps over the baseline's.
2. `sweep`: closed-loop clients (a separate process, keep-alive connections, the load test's
   inputs) at each concurrency level for `--sweep-seconds`: rps, latency, and the pool's cold
   starts, environments and throttles (429) during the level. Cold starts begin when a level needs
   more environments than are warm; throttles when it passes the function's concurrency limit
   (reserved concurrency, else min(1,000, 8 per CPU): 16 on 2 cores).

    .venv/bin/python bench/environments.py [--rps 300] [--duration 20] [--levels 1,2,4,8,16,24,32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CLIENT = r"""
import http.client, json, sys, threading, time
host, concurrency, seconds, inputs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
bodies = [json.dumps({"message": json.loads(l)["message"]}).encode() for l in open(inputs) if l.strip()][:500]
lat, statuses, lock = [], {}, threading.Lock()
end = time.perf_counter() + seconds

def run(i):
    conn = http.client.HTTPConnection(host, timeout=30)
    n = i
    while time.perf_counter() < end:
        t = time.perf_counter()
        conn.request("POST", "/route", body=bodies[n % len(bodies)], headers={"content-type": "application/json"})
        r = conn.getresponse(); r.read()
        with lock:
            lat.append((time.perf_counter() - t) * 1000); statuses[r.status] = statuses.get(r.status, 0) + 1
        n += concurrency

start = time.perf_counter()
threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
[t.start() for t in threads]; [t.join() for t in threads]
wall = time.perf_counter() - start
lat.sort()
pct = lambda p: round(lat[min(len(lat) - 1, int(len(lat) * p / 100))], 2) if lat else None
print(json.dumps({"concurrency": concurrency, "requests": len(lat), "rps": round(len(lat) / wall, 1),
                  "latency_ms": {"p50": pct(50), "p99": pct(99), "max": round(lat[-1], 1) if lat else None},
                  "statuses": statuses}))
"""


def load_test(model: Any, url: str, rps: float, duration_s: float, out: Path) -> dict[str, Any]:
    from deployer.loadtest.plan import Overrides, resolve_plan
    from deployer.loadtest.session import run_load_test

    plan = resolve_plan(model, Overrides(rps=rps, duration_s=duration_s, concurrency=(), target_url=url,
                                         report_dir=str(out)))
    result = run_load_test(plan)
    f = result.figures
    return {"asked_rps": rps, "achieved_rps": round(f.achieved_rps or 0.0, 1), "requests": f.requests,
            "failed": f.failed, "timed_out": f.timed_out, "latency_p50_ms": f.latency_p50_ms,
            "latency_p99_ms": f.latency_p99_ms, "latency_max_ms": f.latency_max_ms, "passed": result.passed,
            "users": plan.users, "generator": result.generator.message}


def sweep(emu: Any, levels: list[int], seconds: float, inputs: str) -> list[dict[str, Any]]:
    host = emu.gateway_url.removeprefix("http://")
    rows = []
    for level in levels:
        before = {v: vars(s).copy() for v, s in emu._pool.stats().items()}
        out = subprocess.run([sys.executable, "-c", CLIENT, host, str(level), str(seconds), inputs],
                             capture_output=True, text=True, timeout=seconds + 120, check=True)
        row = json.loads(out.stdout)
        after = emu._pool.stats()
        for version, stats in after.items():
            old = before.get(version, {})
            row.update({"environments": stats.environments,
                        "cold_starts": stats.cold_starts - old.get("cold_starts", 0),
                        "throttles": stats.throttles - old.get("throttles", 0)})
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rps", type=float, default=300.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--levels", default="1,2,4,8,16,24,32")
    parser.add_argument("--sweep-seconds", type=float, default=4.0)
    args = parser.parse_args()

    from loadgen import loopback

    from deployer.compiler import compile_environment
    from deployer.local import Emulator
    from deployer.local.bundles.workers import machine_concurrency
    from deployer.spec import load_spec

    model = compile_environment(load_spec(ROOT / "agent.yaml"), "local")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-environments-") as scratch:
        with loopback(args.duration + 120) as url:
            baseline = load_test(model, url, args.rps, args.duration, Path(scratch) / "baseline")
        with Emulator(model, state_dir=Path(scratch) / "state") as emu:  # fresh, as `deployer loadtest` starts it
            emu.deploy()
            emulated = load_test(model, emu.gateway_url, args.rps, args.duration, Path(scratch) / "emulator")
            environments = {v: vars(s) for v, s in emu._pool.stats().items()}  # type: ignore[union-attr]
        input_file = model.load.input_file or "samples/support_router/data/load_inputs.jsonl"
        inputs = input_file if os.path.isabs(input_file) else str(ROOT / input_file)
        with Emulator(model, state_dir=Path(scratch) / "sweep") as emu:  # fresh: one provisioned environment
            emu.deploy()
            rows = sweep(emu, [int(x) for x in args.levels.split(",")], args.sweep_seconds, inputs)
    slo_p99 = model.slos.latency_p99_ms or 500.0
    document = {
        "benchmark": "environments", "agent": "agent.yaml (flagship), env local, real bundle",
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "machine_concurrency": machine_concurrency(),
        "load_test": {**emulated, "slo_p99_ms": slo_p99, "environments_after": environments},
        "baseline": {"what": "the same load-test plan against a trivial HTTP server (the generator alone)",
                     **{k: v for k, v in baseline.items() if k != "passed"}},
        "ratio_to_baseline": {"achieved_rps": emulated["achieved_rps"] / baseline["achieved_rps"]
                              if baseline["achieved_rps"] else None},
        "sweep": rows,
        "targets": {"achieved_rps_min": args.rps, "p99_within_slo_ms": slo_p99},
        "pass": emulated["achieved_rps"] >= 0.97 * args.rps and (emulated["latency_p99_ms"] or 1e9) <= slo_p99,
        "bench_wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(document, indent=1))
    return 0 if document["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
