"""Benchmark: synth with cdk-nag for 1 agent and for 10 agents, against a minimal CDK app; prints JSON.

Each measurement is a fresh process (what `deployer synth` costs a user), with a warm jsii cache
(one unmeasured warm-up run first). Reported per run: import (aws_cdk, cdk-nag, infra), build
(constructs), synth (templates, assets, cdk-nag) and the process total; the median of `--runs`
runs is the figure. The bundle is a stub directory: building the real bundle is the bundle
area's cost, not synth's. The agent is the root agent.yaml's staging environment, renamed per
copy. The baseline, run interleaved in the same way: a minimal CDK app of one Lambda function,
a version and an alias on the same stub bundle, no cdk-nag (target: 1 agent <= 1.5x of it).
Also run, interleaved: the library floor, the same minimal app in a process that imports every
aws_cdk module `infra/` imports and cdk-nag, and runs cdk-nag's checks on it: what any stack of
these services with these checks costs before deployer builds anything of its own.

    python bench/synth.py [--runs 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = {1: 6.0, 10: 9.0}
TARGET_RATIO = 1.5


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


def infra_cdk_modules() -> list[str]:
    """Every `aws_cdk.<module>` that `infra/` imports, read from its source."""
    found = set()
    for path in (ROOT / "infra").glob("*.py"):
        found.update(re.findall(r"^\s*from aws_cdk import (aws_\w+)", path.read_text(), flags=re.MULTILINE))
    return sorted(found)


def minimal_app(out_dir: str, floor: bool = False) -> dict[str, float]:
    """The baseline: one function, a version and an alias, synthesized. With `floor`, in a process
    that also imports the stack's CDK modules and cdk-nag, and with cdk-nag's checks."""
    started = time.perf_counter()
    import aws_cdk as cdk
    from aws_cdk import aws_lambda as lambda_

    if floor:
        import importlib

        for module in infra_cdk_modules():
            importlib.import_module(f"aws_cdk.{module}")
        from cdk_nag import AwsSolutionsChecks

    imported = time.perf_counter()
    bundle = Path(out_dir) / "bundle"
    (bundle / "handlers").mkdir(parents=True, exist_ok=True)
    (bundle / "handlers" / "runtime.py").write_text("def handler(event, context):\n    return {}\n")
    # the same app settings as `infra.app.build_app` (no version reporting, no CloudFormation schema check)
    app = cdk.App(outdir=str(Path(out_dir) / "cdk.out"), analytics_reporting=False, builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Minimal")
    function = lambda_.Function(stack, "Fn", runtime=lambda_.Runtime.PYTHON_3_12, handler="handlers.runtime.handler",
                                code=lambda_.Code.from_asset(str(bundle)))
    lambda_.Alias(stack, "Live", alias_name="live", version=function.current_version)
    if floor:  # its findings on this bare function are acknowledged: the checks run, synth goes on
        for rule in ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                     "AWSLambdaBasicExecutionRole]", "AwsSolutions-L1"):
            cdk.Validations.of(stack).acknowledge(cdk.Acknowledgment(id=rule, reason="benchmark floor"))
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    built = time.perf_counter()
    app.synth()
    done = time.perf_counter()
    return {"import_s": imported - started, "build_s": built - imported, "synth_s": done - built}


def run(agents: int) -> dict[str, float]:
    """A fresh process synthesizing `agents` agents (0: the minimal app; -1: the library floor)."""
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
        agents, out = int(args.child[0]), args.child[1]
        print(json.dumps(child(agents, out) if agents > 0 else minimal_app(out, floor=agents < 0)))
        return
    run(1)  # warm-up: jsii cache, OS page cache
    results: dict[str, Any] = {"benchmark": "synth", "runs": args.runs, "nag": "AwsSolutions", "fresh_process": True,
                               "baseline": "a minimal CDK app (one function, version, alias; no cdk-nag), fresh "
                                           "processes interleaved with the agent runs",
                               "cpus": os.cpu_count(), "load_average_1m_before": round(os.getloadavg()[0], 2)}
    samples: dict[int, list[dict[str, float]]] = {0: [], -1: [], 1: [], 10: []}
    for _ in range(args.runs):  # interleaved, so the machine's drift hits all alike
        for agents in samples:
            samples[agents].append(run(agents))
    for agents, runs in samples.items():
        median = {key: round(statistics.median(s[key] for s in runs), 2) for key in runs[0]}
        if agents == 0:
            results["baseline_minimal_cdk_app"] = median
            continue
        if agents < 0:
            results["library_floor"] = {**median, "what": "the minimal app, with every aws_cdk module infra/ imports "
                                                          "and cdk-nag imported, and cdk-nag's checks run"}
            continue
        results[f"agents_{agents}"] = {**median, "budget_s": BUDGET_S[agents],
                                       "within_budget": median["process_s"] <= BUDGET_S[agents]}
    one, ten = results["agents_1"], results["agents_10"]
    ratio = round(one["process_s"] / results["baseline_minimal_cdk_app"]["process_s"], 2)
    results["ratio_1_agent_over_baseline"] = ratio
    results["ratio_library_floor_over_baseline"] = round(
        results["library_floor"]["process_s"] / results["baseline_minimal_cdk_app"]["process_s"], 2)
    results["target_ratio"] = TARGET_RATIO
    results["pass"] = ratio <= TARGET_RATIO
    results["marginal_per_agent_s"] = round((ten["process_s"] - one["process_s"]) / 9, 3)
    results["marginal_build_synth_per_agent_s"] = round(
        ((ten["build_s"] + ten["synth_s"]) - (one["build_s"] + one["synth_s"])) / 9, 3)
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
