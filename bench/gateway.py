"""Benchmark: the emulator's gateway in front of an action that returns at once.

Starts an emulator (moto child process, gateway, execution environments) with the stand-in echo
bundle, deploys it, and drives it from a separate client process over keep-alive connections in
two phases: saturation (closed loop, `--concurrency` clients, `--requests` requests: capacity in
req/s) and paced (open loop at `--rate` req/s for `--paced-seconds`: latency at that load).
Overhead per request = client latency minus the time inside the handler (which the gateway reports
in `x-deployer-handler-ms`). Everything the emulator does per request is on: EMF parsing and alarm
metrics, the CloudWatch mirror and the request log in moto DynamoDB. A concurrent warm-up starts
the environments the saturation phase uses, so their cold starts are not in the figures.

CPU per request is the CPU time of every emulator process (gateway, each worker, the telemetry
sink, moto) over the measured requests. Baseline, measured in the same run with the same client:
a trivial HTTP server (asyncio, one process, a fixed answer): `baseline` and `ratio_to_baseline`.
Targets: >= 500 req/s capacity, p99 overhead <= 5 ms at 500 req/s, CPU <= 1 ms per request.

    .venv/bin/python bench/gateway.py [--requests 5000] [--concurrency 4] [--rate 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _trivial_server import trivial_server  # noqa: E402 (bench/, this script's folder)

CLIENT = r"""
import http.client, json, sys, threading, time
host, total, concurrency, rate, paced_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
body = json.dumps({"message": "my card was charged twice"}).encode()
lock = threading.Lock()

def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(len(v) * p / 100))] if v else None

def one(conn, lat, over, errors):
    t = time.perf_counter()
    conn.request("POST", "/route", body=body, headers={"content-type": "application/json"})
    r = conn.getresponse(); r.read()
    ms = (time.perf_counter() - t) * 1000
    lat.append(ms); over.append(ms - float(r.getheader("x-deployer-handler-ms") or 0))
    if r.status != 200:
        errors.append(r.status)

def saturate():
    # closed loop: `concurrency` clients back to back, `total` requests: the gateway's capacity
    lat, over, errors, counter = [], [], [], [0]
    def run():
        conn = http.client.HTTPConnection(host, timeout=10)
        while True:
            with lock:
                if counter[0] >= total: return
                counter[0] += 1
            one(conn, lat, over, errors)
    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    start = time.perf_counter(); [t.start() for t in threads]; [t.join() for t in threads]
    wall = time.perf_counter() - start
    return {"requests": len(lat), "errors": len(errors), "wall_s": wall, "rps": len(lat) / wall,
            "latency_ms": {"p50": pct(lat, 50), "p99": pct(lat, 99)}, "overhead_ms": {"p50": pct(over, 50), "p99": pct(over, 99)}}

def paced():
    # open loop: `rate` requests per second for `paced_s` seconds, spread over 4 clients
    lat, over, errors = [], [], []
    n = 4
    interval = n / rate
    def run(i):
        conn = http.client.HTTPConnection(host, timeout=10)
        next_at = time.perf_counter() + i * interval / n
        end = time.perf_counter() + paced_s
        while next_at < end:
            delay = next_at - time.perf_counter()
            if delay > 0: time.sleep(delay)
            one(conn, lat, over, errors)
            next_at += interval
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    start = time.perf_counter(); [t.start() for t in threads]; [t.join() for t in threads]
    wall = time.perf_counter() - start
    return {"offered_rps": rate, "achieved_rps": len(lat) / wall, "requests": len(lat), "errors": len(errors),
            "latency_ms": {"p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99), "max": max(lat)},
            "overhead_ms": {"p50": pct(over, 50), "p95": pct(over, 95), "p99": pct(over, 99)}}

def warm():
    # as many concurrent clients as the saturation phase: its environments exist before it starts
    def run():
        c = http.client.HTTPConnection(host, timeout=60)
        for _ in range(100):
            c.request("POST", "/route", body=body); c.getresponse().read()
    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    [t.start() for t in threads]; [t.join() for t in threads]

warm()
print("warm", flush=True)
sys.stdin.readline()  # the parent reads the CPU counters, then lets the measured phases start
print(json.dumps({"saturation": saturate(), "paced": paced()}))
"""

#: The baseline's answer: what the echo action answers, with the gateway's handler-time header.
BASELINE_BODY = b'{"action": "route", "echo": {"message": "my card was charged twice"}}'



def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _drive(host: str, args: argparse.Namespace, pids: Callable[[], dict[str, int]]) -> tuple[dict[str, Any], dict[str, float]]:
    """Warm up, then run the measured phases; the CPU seconds each process spent during them."""
    client = subprocess.Popen([sys.executable, "-c", CLIENT, host, str(args.requests), str(args.concurrency),
                               str(args.rate), str(args.paced_seconds)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert client.stdin is not None and client.stdout is not None
    try:
        if client.stdout.readline().strip() != "warm":
            raise RuntimeError("the benchmark client failed during warm-up")
        before = {name: _cpu_seconds(pid) for name, pid in pids().items()}
        client.stdin.write("go\n")
        client.stdin.flush()
        out, _ = client.communicate(timeout=300)
    finally:
        if client.poll() is None:
            client.kill()
    after = {name: _cpu_seconds(pid) for name, pid in pids().items()}
    # a process started during the measured phases (a cold start) counts whole
    return json.loads(out), {name: after[name] - before.get(name, 0.0) for name in after}


def _per_request(result: dict[str, Any], cpu: dict[str, float]) -> dict[str, float]:
    total = result["saturation"]["requests"] + result["paced"]["requests"]
    per = {name: 1000 * c / total for name, c in cpu.items()}
    per["total"] = sum(per.values())
    return per


def baseline(args: argparse.Namespace) -> dict[str, Any]:
    """The same client against a trivial HTTP server: what the machine and the client cost alone."""
    with trivial_server(BASELINE_BODY, headers={"x-deployer-handler-ms": "0"}, backlog=1024) as (port, pid):
        result, cpu = _drive(f"127.0.0.1:{port}", args, lambda: {"server": pid})
    result["cpu_ms_per_request"] = _per_request(result, cpu)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=500.0, help="offered load of the latency phase, req/s")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    args = parser.parse_args()

    from deployer.compiler import compile_environment
    from deployer.local import Emulator
    from deployer.local.bundles.testkit import build_echo_bundle
    from deployer.spec import load_spec

    model = compile_environment(load_spec(ROOT / "agent.yaml"), "local")
    started = time.perf_counter()
    base = baseline(args)
    with tempfile.TemporaryDirectory() as state, Emulator(model, state_dir=state, bundle_builder=build_echo_bundle) as emu:
        emu.deploy()
        host = emu.gateway_url.split("//", 1)[1]
        fixed = {"gateway": os.getpid(), "sink": emu.sink._proc.pid, "moto": emu._moto._proc.pid}  # type: ignore[union-attr]

        def pids() -> dict[str, int]:
            return {**fixed, **{f"worker-{pid}": pid for pid in emu._pool.pids()}}  # type: ignore[union-attr]

        result, cpu = _drive(host, args, pids)
        sink = emu.sink.stats()
        environments = {v: vars(s) for v, s in emu._pool.stats().items()}  # type: ignore[union-attr]
    workers = sum(c for name, c in cpu.items() if name.startswith("worker-"))
    cpu = {**{k: v for k, v in cpu.items() if not k.startswith("worker-")}, "workers": workers}
    result["cpu_ms_per_request"] = per = _per_request(result, cpu)
    result.update({
        "benchmark": "gateway", "concurrency": args.concurrency, "handler": "echo (returns at once)",
        "environments": environments, "records_written": sink.get("written"), "cpus": os.cpu_count(),
        "load_average": os.getloadavg(), "bench_wall_s": time.perf_counter() - started,
        "baseline": {"what": "the same client against a trivial asyncio HTTP server (one process, fixed answer)",
                     "saturation_rps": base["saturation"]["rps"], "paced_latency_ms": base["paced"]["latency_ms"],
                     "cpu_ms_per_request": base["cpu_ms_per_request"]["total"]},
        "ratio_to_baseline": {
            "cpu_per_request": per["total"] / base["cpu_ms_per_request"]["total"],
            "paced_p99": result["paced"]["latency_ms"]["p99"] / base["paced"]["latency_ms"]["p99"],
            "saturation_rps": result["saturation"]["rps"] / base["saturation"]["rps"],
        },
        "targets": {"rps_min": 500, "overhead_p99_ms_max": 5.0, "cpu_ms_per_request_max": 1.0},
    })
    result["pass"] = (result["saturation"]["rps"] >= 500 and result["paced"]["achieved_rps"] >= 0.97 * args.rate
                      and result["paced"]["overhead_ms"]["p99"] <= 5.0 and per["total"] <= 1.0)
    print(json.dumps(result, indent=1))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
