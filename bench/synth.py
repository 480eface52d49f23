"""Benchmark: synth with cdk-nag for 1 agent and for 10 agents; prints JSON.

Each measurement is a fresh process (what `deployer synth` costs a user), with a warm jsii cache
(one unmeasured warm-up run first). Reported per run: import (aws_cdk, cdk-nag, infra), build
(constructs), synth (templates, assets, cdk-nag) and the process total; the median of `--runs`
runs is the figure. The bundle is a stub directory: building the real bundle is the bundle
area's cost, not synth's. The agent is the root agent.yaml's staging environment, renamed per
copy. Budgets: 1 agent <= 6 s, 10 agents <= 9 s.

    python bench/synth.py [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = {1: 6.0, 10: 9.0}


def child(agents: int, out_dir: str) -> dict[str, float]:
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    from deployer.compiler import compile_environment
    from deployer.spec.loader import load_spec
    from deployer.synth import SynthTarget
    from infra.app import build_app

    imported = time.perf_counter()
    base = compile_environment(load_spec(ROOT / "agent.yaml"), "staging")
    bundle = Path(out_dir) / "bundle"
    (bundle / "handlers").mkdir(parents=True, exist_ok=True)
    (bundle / "handlers" / "runtime.py").write_text("def handler(event, context):\n    return {}\n")
    targets = [SynthTarget(dataclasses.replace(base, agent=f"{base.agent}-{i}"), str(bundle)) for i in range(agents)]
    app, _stacks = build_app(targets, outdir=str(Path(out_dir) / "cdk.out"))
    built = time.perf_counter()
    app.synth()
    done = time.perf_counter()
    return {"import_s": imported - started, "build_s": built - imported, "synth_s": done - built}


def run(agents: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--child", str(agents), tmp], capture_output=True, text=True,
                              check=True, env={**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"})
        total = time.perf_counter() - started
    timings: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**timings, "process_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("AGENTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1])))
        return
    run(1)  # warm-up: jsii cache, OS page cache
    results: dict[str, Any] = {"runs": args.runs, "nag": "AwsSolutions", "fresh_process": True,
                               "cpus": os.cpu_count(), "load_average_1m_before": round(os.getloadavg()[0], 2)}
    for agents in (1, 10):
        samples = [run(agents) for _ in range(args.runs)]
        median = {key: round(statistics.median(s[key] for s in samples), 2) for key in samples[0]}
        results[f"agents_{agents}"] = {**median, "budget_s": BUDGET_S[agents],
                                       "within_budget": median["process_s"] <= BUDGET_S[agents]}
    one, ten = results["agents_1"], results["agents_10"]
    results["marginal_per_agent_s"] = round((ten["process_s"] - one["process_s"]) / 9, 3)
    results["marginal_build_synth_per_agent_s"] = round(
        ((ten["build_s"] + ten["synth_s"]) - (one["build_s"] + one["synth_s"])) / 9, 3)
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
