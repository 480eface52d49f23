"""Benchmark: the default rollback drill, on the real agent bundle of agent.yaml.

Runs `deployer drill`'s library (`run_drill`) with the defaults (error rate 0.3, the spec's
rollout policy, time x60) and prints JSON: wall time (target <= 12 s) with its phases (start,
deploy_healthy, baseline, deploy_faulty, rollout, settle, stop), detection time in emulated seconds
from the first request served by the faulty version to all traffic back on the stable one (target:
within one alarm window + one evaluation), and what the faulty version served. The baseline each
wall time is a ratio of: the part no speed-up removes, the emulated schedule at the time scale
(the baseline's two alarm evaluations, the rollout until its rollback), `schedule_s`.

    .venv/bin/python bench/drill.py [--strategy canary] [--runs 1] [--echo]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", default=None)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--echo", action="store_true", help="use the stand-in echo bundle instead of the agent")
    args = parser.parse_args()

    from deployer.compiler import compile_environment
    from deployer.local import Faults
    from deployer.local.bundles.testkit import build_echo_bundle
    from deployer.local.front.drill import run_drill
    from deployer.spec import load_spec

    model = compile_environment(load_spec(ROOT / "agent.yaml"), "local")
    runs: list[dict[str, Any]] = []
    for _ in range(args.runs):
        report = run_drill(model, faults=Faults(error_rate=0.3), strategy=args.strategy, time_scale=args.time_scale,
                           bundle_builder=build_echo_bundle if args.echo else None)
        runs.append({
            "ok": report.ok, "strategy": report.strategy, "wall_s": report.wall_s,
            "detection_s_emulated": report.detection_s, "bound_s_emulated": report.bound_s,
            "within_bound": report.within_bound, "faulty_requests": report.faulty_requests,
            "faulty_errors": report.faulty_errors, "total_requests": report.total_requests,
            "alarms_fired": [a["alarm"] for a in report.alarms_fired], "verdict": report.verdict,
            "phases_s": report.phases_s,
            "schedule_s": round(report.phases_s.get("baseline", 0) + report.phases_s.get("rollout", 0), 3),
            "wall_over_schedule": round(report.wall_s / max(1e-9, report.phases_s.get("baseline", 0)
                                                           + report.phases_s.get("rollout", 0)), 2),
        })
    result = {
        "benchmark": "drill", "bundle": "echo" if args.echo else "agent.yaml (real bundle)",
        "time_scale": args.time_scale, "runs": runs, "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "targets": {"wall_s_max": 12, "rolled_back_within": "one alarm window + one evaluation (emulated)"},
        "pass": all(r["ok"] and r["within_bound"] and r["wall_s"] <= 12 for r in runs),
    }
    print(json.dumps(result, indent=1))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
