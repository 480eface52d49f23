"""Cold start of the bundle's handler: importing `handlers.runtime` over a bare interpreter.

Builds the Lambda bundle of a small agent (or of `--spec/--env`), then times fresh processes of
the bundle's target Python (`-I -S`, `sys.path = [bundle, stdlib]`, as in Lambda's task root):
a bare interpreter that only sets the path, and one that also imports the handler module. The
difference is what the runtime adds to a cold start (target: at most 60 ms). It also reports
what the import pulled in (no pydantic, boto3, structlog or yaml) and, separately, the first
request (agent import, pydantic, validator build), which Lambda pays once per container.

Run: .venv/bin/python bench/cold_start.py [--runs 20] [--spec agent.yaml --env local]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETUP = "import sys; sys.path[:] = [sys.argv[1]] + [p for p in sys.path if p and 'site-packages' not in p]"
IMPORT = SETUP + "; import handlers.runtime"
REPORT = IMPORT + (
    "; import json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
    "{'pydantic', 'pydantic_core', 'boto3', 'botocore', 'structlog', 'yaml', 'urllib', 'http'})))"
)
FIRST_REQUEST = IMPORT + """
import json, time
event = {"version": "2.0", "rawPath": "/" + sys.argv[2], "headers": {},
         "requestContext": {"http": {"method": "POST", "path": "/" + sys.argv[2]}}, "body": sys.argv[3],
         "isBase64Encoded": False}
import io, handlers.runtime as r
r.get_runtime().telemetry._stream = io.StringIO()
start = time.perf_counter()
answer = r.handler(event, None)
print(json.dumps({"ms": (time.perf_counter() - start) * 1000, "status": answer["statusCode"]}))
"""


def wall_ms(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        out.append((time.perf_counter() - start) * 1000)
    return out


def build(args: argparse.Namespace, workdir: Path) -> tuple[Path, str, str, str]:
    from deployer.bundle import build as build_bundle

    if args.spec:
        from deployer.compiler import compile_environment
        from deployer.spec import load_spec

        model = compile_environment(load_spec(args.spec), args.env)
        action, body = model.actions[0].name, args.body
    else:
        from tests.helpers.agent_fixtures import compile_project, write_project

        model = compile_project(write_project(workdir / "project"))
        action, body = "echo", '{"text": "hello"}'
    info = build_bundle(model, workdir / "out", cache_dir=ROOT / ".deployer" / "cache")
    return info.path, model.function.python, action, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--spec", help="build this spec's bundle instead of the fixture agent")
    parser.add_argument("--env", default="local")
    parser.add_argument("--body", default="{}", help="request body of the first-request measurement (with --spec)")
    args = parser.parse_args()
    from deployer.bundle.deps import find_interpreter

    with tempfile.TemporaryDirectory() as tmp:
        bundle, python, action, body = build(args, Path(tmp))
        interpreter = find_interpreter(python) or sys.executable
        base = [interpreter, "-I", "-S", "-c"]
        wall_ms([*base, IMPORT, str(bundle)], 3)  # warm the page cache
        bare, handler = [], []
        for _ in range(args.runs):  # interleaved, so drift hits both
            bare += wall_ms([*base, SETUP, str(bundle)], 1)
            handler += wall_ms([*base, IMPORT, str(bundle)], 1)
        imported = json.loads(subprocess.run([*base, REPORT, str(bundle)], check=True, capture_output=True,
                                             text=True).stdout)
        first = [json.loads(subprocess.run([*base, FIRST_REQUEST, str(bundle), action, body], check=True,
                                           capture_output=True, text=True).stdout.splitlines()[-1])
                 for _ in range(5)]
    bare_ms, handler_ms = statistics.median(bare), statistics.median(handler)
    result = {
        "benchmark": "cold_start",
        "interpreter": interpreter,
        "runs": args.runs,
        "bare_interpreter_ms": round(bare_ms, 2),
        "import_handler_ms": round(handler_ms, 2),
        "handler_import_over_bare_ms": round(handler_ms - bare_ms, 2),
        "target_ms": 60,
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "pass": handler_ms - bare_ms <= 60,
        "heavy_modules_at_import": imported,
        "first_request_ms_median": round(statistics.median(f["ms"] for f in first), 2),
        "first_request_status": first[0]["status"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
