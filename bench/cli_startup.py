"""Wall time of `deployer validate` on the root agent.yaml against `python -c pass`, and what it imports.

Prints JSON. The baseline is a bare `python -c pass` of the same interpreter, timed in the same
run (runs interleaved); the target: validate <= 10x the baseline, with no aws_cdk, moto, locust
or boto3 imported. Also timed, interleaved: the floor of the required libraries on this path, a
process that only imports click (the CLI), PyYAML (the spec's parser) and pydantic's `BaseModel`
(the spec's models), with pydantic's plugins off as the CLI runs it: what validate costs before
any of deployer's code runs.
Run: .venv/bin/python bench/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("aws_cdk", "moto", "locust", "boto3", "botocore", "rich")
TARGET_RATIO = 10.0
#: The imports `deployer validate` cannot do without (as `deployer.cli` sets pydantic's plugins off).
LIBRARY_FLOOR = ("import os; os.environ.setdefault('PYDANTIC_DISABLE_PLUGINS', '__all__'); "
                 "import click, yaml; from pydantic import BaseModel")


#: As on a user's machine: Python caches bytecode (some shells and CI set PYTHONDONTWRITEBYTECODE,
#: which recompiles every module at every start and is not what a user runs).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall_ms(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, env=ENV)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    deployer = str(Path(sys.executable).parent / "deployer")
    commands = {"bare": [sys.executable, "-c", "pass"], "validate": [deployer, "validate"],
                "validate_no_code": [deployer, "validate", "--no-code"],
                "library_floor": [sys.executable, "-c", LIBRARY_FLOOR]}
    for argv in commands.values():  # warm-up: writes .pyc files, fills the page cache
        wall_ms(argv, 1)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so the machine's drift hits all alike
        for name, argv in commands.items():
            samples[name] += wall_ms(argv, 1)
    bare, validate, validate_spec_only = samples["bare"], samples["validate"], samples["validate_no_code"]
    probe = (
        "import sys; from deployer.cli import main\n"
        "try:\n    main(['validate'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    heavy = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    marker = next(line for line in heavy.stdout.splitlines() if line.startswith("HEAVY="))
    imported = [m for m in marker.removeprefix("HEAVY=").split(",") if m]
    ratio = statistics.median(validate) / statistics.median(bare)
    floor = statistics.median(samples["library_floor"])
    print(json.dumps({
        "benchmark": "cli_startup",
        "runs": runs,
        "baseline": "`python -c pass`, same interpreter, interleaved with the validate runs",
        "baseline_bare_interpreter_ms_p50": round(statistics.median(bare), 1),
        "validate_ms_p50": round(statistics.median(validate), 1),
        "validate_ms_max": round(max(validate), 1),
        "validate_no_code_ms_p50": round(statistics.median(validate_spec_only), 1),
        "ratio_validate_over_baseline": round(ratio, 1),
        "target_ratio": TARGET_RATIO,
        "pass": ratio <= TARGET_RATIO,
        "library_floor_ms_p50": round(floor, 1),
        "ratio_library_floor_over_baseline": round(floor / statistics.median(bare), 1),
        "library_floor": "import click, yaml; from pydantic import BaseModel (plugins off), nothing of deployer",
        "bytecode_cache": "on (PYTHONDONTWRITEBYTECODE removed for the runs, one warm-up run first)",
        "heavy_modules_imported": imported,
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
    }, indent=2))


if __name__ == "__main__":
    main()
