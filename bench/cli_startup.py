"""Wall time of `deployer validate` on the root agent.yaml, and what it imports.

Prints JSON. The target: under 300 ms wall, with no aws_cdk, moto, locust or boto3 imported.
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


#: As on a user's machine: Python caches bytecode (some shells and CI set PYTHONDONTWRITEBYTECODE,
#: which recompiles every module at every start and is not what a user runs).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall_ms(argv: list[str], runs: int) -> list[float]:
    subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, env=ENV)  # warm-up: writes .pyc files
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
    bare = wall_ms([sys.executable, "-c", "pass"], runs)
    validate = wall_ms([deployer, "validate"], runs)
    validate_spec_only = wall_ms([deployer, "validate", "--no-code"], runs)
    probe = (
        "import sys; from deployer.cli import main\n"
        "try:\n    main(['validate'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    heavy = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    marker = next(line for line in heavy.stdout.splitlines() if line.startswith("HEAVY="))
    imported = [m for m in marker.removeprefix("HEAVY=").split(",") if m]
    print(json.dumps({
        "runs": runs,
        "bare_interpreter_ms_p50": round(statistics.median(bare), 1),
        "validate_ms_p50": round(statistics.median(validate), 1),
        "validate_ms_max": round(max(validate), 1),
        "validate_no_code_ms_p50": round(statistics.median(validate_spec_only), 1),
        "bytecode_cache": "on (PYTHONDONTWRITEBYTECODE removed for the runs, one warm-up run first)",
        "target_ms": 300,
        "meets_target": statistics.median(validate) < 300,
        "heavy_modules_imported": imported,
    }, indent=2))


if __name__ == "__main__":
    main()
