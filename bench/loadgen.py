"""Is the load generator the bottleneck? Generator CPU share and achieved vs asked rate.

    .venv/bin/python bench/loadgen.py                       # emulator, 100/500/1000 rps, 5 s each
    .venv/bin/python bench/loadgen.py --target loopback     # a trivial asyncio server instead
    .venv/bin/python bench/loadgen.py --rates 500 --workers 2 --duration 10

Targets:
- ``emulator``: the real local emulator (gateway, worker process, the real runtime) serving the
  runtime tests' fixture agent, action ``echo``; the agent costs almost nothing, so the figures are
  the generator's and the emulator's.
- ``loopback``: a trivial asyncio HTTP server in its own process answering the runtime's response
  shape; what is left is the generator alone.

Prints one JSON document: per rate the asked and achieved rps, the busiest locust process's CPU
share of one core, its CPU seconds per 1000 requests, request lag and latency percentiles, and the
bottleneck verdict the report would print. The machine shares its cores between generator and target.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _trivial_server import trivial_server  # noqa: E402 (bench/, this script's folder)

#: The loopback target's answer: the runtime's response shape.
LOOPBACK_BODY = json.dumps({"request_id": "r", "action": "echo", "version": "1", "output": {"ok": True},
                            "usage": {"latency_ms": 0.1, "input_tokens": 3, "output_tokens": 1, "cost_usd": 0.00001,
                                      "confidence": 0.9, "memory_mb": 50.0}}).encode()


@contextmanager
def loopback(lifetime_s: float) -> Iterator[str]:
    with trivial_server(LOOPBACK_BODY, backlog=4096, lifetime_s=lifetime_s) as (port, _pid):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def emulator(model: Any) -> Iterator[str]:
    from deployer.local import Emulator

    with Emulator(model) as emu:
        emu.deploy()
        yield str(emu.gateway_url)


def fixture_model(work: Path, inputs: Path) -> Any:
    from tests.helpers.agent_fixtures import compile_project, write_project

    spec = write_project(work / "agent", python=f"{sys.version_info.major}.{sys.version_info.minor}")
    model = compile_project(spec)
    return dataclasses.replace(model, load=dataclasses.replace(model.load, action="echo", input_file=str(inputs)))


def measure(model: Any, url: str, rate: float, duration_s: float, users: int, workers: int, out: Path) -> dict[str, Any]:
    from deployer.loadtest.plan import Overrides, resolve_plan
    from deployer.loadtest.session import run_load_test

    plan = resolve_plan(model, Overrides(rps=rate, duration_s=duration_s, users=users, workers=workers, target_url=url,
                                         report_dir=str(out / f"rps-{int(rate)}")))
    started = time.monotonic()
    result = run_load_test(plan)
    figures, generator = result.figures, result.generator
    cpu_per_1000 = generator.cpu_seconds / figures.requests * 1000 if figures.requests else None
    return {
        "asked_rps": rate,
        "achieved_rps": round(figures.achieved_rps or 0.0, 1),
        "achieved_ratio": round(generator.achieved_ratio or 0.0, 4),
        "requests": figures.requests,
        "errors": figures.failed + figures.timed_out,
        "errors_by_type": figures.errors_by_type,  # HTTP 429: past the emulator's environments (see docs/local.md)
        "generator_processes": generator.processes,
        "generator_cpu_share_of_one_core": round(generator.cpu_share_max or 0.0, 3),
        "generator_cpu_s_per_1000_requests": round(cpu_per_1000, 4) if cpu_per_1000 is not None else None,
        "lag_p99_ms": figures.lag_p99_ms,
        "latency_p50_ms": figures.latency_p50_ms,
        "latency_p99_ms": figures.latency_p99_ms,
        "bottleneck": generator.bottleneck,
        "verdict": generator.message,
        "wall_s": round(time.monotonic() - started, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=("emulator", "loopback"), default="emulator")
    parser.add_argument("--rates", default="100,500,1000")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as scratch:
        work = Path(scratch)
        inputs = work / "inputs.jsonl"
        inputs.write_text("\n".join(json.dumps({"text": f"message {i}"}) for i in range(100)) + "\n")
        model = fixture_model(work, inputs)
        lifetime = (args.duration + 30) * len(rates) + 60
        target = emulator(model) if args.target == "emulator" else loopback(lifetime)
        started = time.monotonic()
        with target as url:
            setup_s = time.monotonic() - started
            runs = [measure(model, url, rate, args.duration, args.users, args.workers, work) for rate in rates]
    document = {
        "benchmark": "loadgen",
        "target": args.target,
        "target_detail": ("local emulator: gateway + worker process + real runtime, fixture agent action 'echo'"
                          if args.target == "emulator" else "trivial asyncio HTTP server in its own process"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "duration_s": args.duration, "users": args.users, "workers": args.workers,
        "target_setup_s": round(setup_s, 2),
        "runs": runs,
        "note": "generator and target share this machine's cores; cpu share is of one core, busiest locust process",
    }
    text = json.dumps(document, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
