"""Benchmark: the emulator's gateway in front of an action that returns at once.

Starts an emulator (moto child process, gateway, one worker process) with the stand-in echo
bundle, deploys it, and drives it from a separate client process over keep-alive connections in
two phases: saturation (closed loop, `--concurrency` clients, `--requests` requests: capacity in
req/s) and paced (open loop at `--rate` req/s for `--paced-seconds`: latency at that load).
Overhead per request = client latency minus the time inside the handler (which the gateway reports
in `x-deployer-handler-ms`). Everything the emulator does per request is on: EMF parsing and alarm
metrics, the CloudWatch mirror and the request log in moto DynamoDB.
Targets: >= 500 req/s capacity, and p99 overhead <= 5 ms at 500 req/s.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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

c = http.client.HTTPConnection(host, timeout=10)
for _ in range(300):
    c.request("POST", "/route", body=body); c.getresponse().read()
print(json.dumps({"saturation": saturate(), "paced": paced()}))
"""



def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    with tempfile.TemporaryDirectory() as state, Emulator(model, state_dir=state, bundle_builder=build_echo_bundle) as emu:
        emu.deploy()
        host = emu.gateway_url.split("//", 1)[1]
        pids = {"gateway": os.getpid(), "worker": emu._pool.get("1")._proc.pid,  # type: ignore[union-attr]
                "sink": emu.sink._proc.pid, "moto": emu._moto._proc.pid}  # type: ignore[union-attr]
        cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CLIENT, host, str(args.requests), str(args.concurrency),
                              str(args.rate), str(args.paced_seconds)],
                             capture_output=True, text=True, timeout=300, check=True)
        result = json.loads(out.stdout)
        sink = emu.sink.stats()
        cpu = {name: _cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        total = result["saturation"]["requests"] + result["paced"]["requests"] + 300
        result["cpu_ms_per_request"] = {name: 1000 * c / total for name, c in cpu.items()}
        result["cpu_ms_per_request"]["total"] = sum(result["cpu_ms_per_request"].values())
        result.update({
            "benchmark": "gateway", "concurrency": args.concurrency, "handler": "echo (returns at once)",
            "records_written": sink.get("written"), "cpus": os.cpu_count(), "load_average": os.getloadavg(), "bench_wall_s": time.perf_counter() - started,
            "targets": {"rps_min": 500, "overhead_p99_ms_max": 5.0},
        })
        result["pass"] = (result["saturation"]["rps"] >= 500 and result["paced"]["achieved_rps"] >= 0.97 * args.rate
                          and result["paced"]["overhead_ms"]["p99"] <= 5.0)
    print(json.dumps(result, indent=1))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
