"""Cold start of the bundle's handler, side by side with a Powertools handler doing the same work.

Both are Lambda-shaped directories run by the bundle's target Python as Lambda runs its task root
(`-I -S`, `sys.path = [task root, stdlib]`), each a fresh process, interleaved run by run:

- ours: the bundle `deployer.bundle.build` makes for a trivial agent (one action,
  `route(message: str) -> dict[str, str]`, a `python` model provider), the flagship's policy;
- baseline: AWS Lambda Powertools' Logger + Metrics around a pydantic model of the same input
  (`model_validate_json`), the same action answer, the same record and metrics, in a directory
  of the same wheels pip installs for Lambda (aws-lambda-powertools and pydantic, manylinux).

On demand, a cold start is the process start, the init (module import) and the first request:
the process wall time from spawn to the answer is the figure (target: ours <= 0.6x Powertools').
With provisioned concurrency (`AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`) Lambda
runs init ahead of traffic; ours then loads the agent, model and validators there, so the first
request should cost what the second does: both are reported, with the init.

Run: .venv/bin/python bench/cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 0.6
AGENT = '''\
from handlers import action, agent


@agent
class Bench:
    @action
    def route(self, message: str) -> dict[str, str]:
        return {"team": "cards"}
'''
MODEL = '''\
class Fixed:
    def predict(self, text):
        return {"text": "cards"}


def load(artifacts_dir, parameters):
    return Fixed()
'''
SPEC = """\
name: bench-agent
description: The cold-start benchmark's trivial agent.
code:
  path: code
  entrypoint: bench_agent:Bench
runtime:
  python: "{python}"
  memory_mb: 512
  timeout: 10s
model:
  provider: python
  id: bench_model:load
actions:
  route: {{timeout: 2s}}
monitoring:
  sample_rate: 0.1
  redaction: [email, phone, card_number, iban, aws_key, bearer_token, api_key]
slos:
  latency_p99_ms: 500
  error_rate_pct: 1
  min_samples: 100
environments:
  local:
    target: local
    expected_traffic: {{requests_per_day: 1000}}
"""
POWERTOOLS_HANDLER = '''\
import json
import os
import time

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict

logger = Logger(service="bench")
metrics = Metrics(namespace="Deployer", service="bench")
metrics.set_default_dimensions(Agent="bench", Environment="bench", Version="$LATEST")


class RouteInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message: str


@metrics.log_metrics
def handler(event, context=None):
    start = time.perf_counter()
    request_id = os.urandom(16).hex()
    RouteInput.model_validate_json(event["body"])
    output = {"team": "cards"}
    latency_ms = (time.perf_counter() - start) * 1000
    logger.info("request", extra={
        "request_id": request_id, "ts": int(time.time() * 1000), "agent": "bench", "action": "route",
        "version": "$LATEST", "environment": "bench", "status": 200, "outcome": "ok", "latency_ms": latency_ms,
        "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "confidence": None, "memory_mb": 0.0,
        "error_type": None, "error_message": None, "replay": False,
    })
    for name, unit, value in (("Invocations", MetricUnit.Count, 1), ("Errors", MetricUnit.Count, 0),
                              ("ClientErrors", MetricUnit.Count, 0), ("Latency", MetricUnit.Milliseconds, latency_ms),
                              ("InputTokens", MetricUnit.Count, 0), ("OutputTokens", MetricUnit.Count, 0),
                              ("CostUSD", MetricUnit.NoUnit, 0.0), ("MemoryUsedMB", MetricUnit.Megabytes, 0.0)):
        metrics.add_metric(name=name, unit=unit, value=value)
    body = json.dumps({"request_id": request_id, "action": "route", "version": "$LATEST", "output": output})
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}
'''

EVENT = {"version": "2.0", "rawPath": "/route", "headers": {"content-type": "application/json"},
         "requestContext": {"http": {"method": "POST", "path": "/route"}},
         "body": '{"message": "I was charged twice for my card"}', "isBase64Encoded": False}
#: argv: task root, handler module, handler function, event JSON. Lambda's task root on the path, the
#: stdlib only (no site-packages), output to /dev/null as Lambda's stdout is not our cost.
SETUP = "import sys; sys.path[:] = [sys.argv[1]] + [p for p in sys.path if p and 'site-packages' not in p]\n"
ON_DEMAND = SETUP + """\
import importlib, json, os
sys.stdout = open(os.devnull, "w")
answer = getattr(importlib.import_module(sys.argv[2]), sys.argv[3])(json.loads(sys.argv[4]), None)
sys.stdout = sys.__stdout__
print(answer["statusCode"])
"""
PROVISIONED = SETUP + """\
import time
started = time.perf_counter()
import importlib, json, os
sys.stdout = open(os.devnull, "w")
handler = getattr(importlib.import_module(sys.argv[2]), sys.argv[3])
init_ms = (time.perf_counter() - started) * 1000
event = json.loads(sys.argv[4])
times = []
for _ in range(2):
    start = time.perf_counter()
    status = handler(event, None)["statusCode"]
    times.append((time.perf_counter() - start) * 1000)
sys.stdout = sys.__stdout__
print(json.dumps({"init_ms": init_ms, "first_request_ms": times[0], "second_request_ms": times[1], "status": status}))
"""
HEAVY = ("pydantic", "pydantic_core", "boto3", "botocore", "structlog", "yaml", "urllib", "http")
IMPORTS = SETUP + "import handlers.runtime, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[2:]))))"


def build_ours(workdir: Path, python: str) -> Path:
    from deployer.bundle import build
    from deployer.compiler import compile_environment
    from deployer.spec import load_spec

    code = workdir / "project" / "code"
    code.mkdir(parents=True)
    (code / "bench_agent.py").write_text(AGENT)
    (code / "bench_model.py").write_text(MODEL)
    spec = workdir / "project" / "agent.yaml"
    spec.write_text(SPEC.format(python=python))
    model = compile_environment(load_spec(spec), "local")
    return build(model, workdir / "out", cache_dir=ROOT / ".deployer" / "cache").path


def build_powertools(workdir: Path, python: str, interpreter: str | None) -> Path:
    """The Powertools handler in a directory of the wheels pip installs for Lambda (cached like ours)."""
    from deployer.bundle.deps import install_dependencies

    requirements = (f"aws-lambda-powertools=={metadata.version('aws-lambda-powertools')}",
                    f"pydantic=={metadata.version('pydantic')}")
    deps = install_dependencies(requirements, architecture="x86_64", python=python,
                                cache_dir=ROOT / ".deployer" / "cache", interpreter=interpreter)
    root = workdir / "powertools"
    shutil.copytree(deps, root, ignore=shutil.ignore_patterns(".complete"))
    (root / "pt_handler.py").write_text(POWERTOOLS_HANDLER)
    if interpreter:
        subprocess.run([interpreter, "-m", "compileall", "-q", str(root / "pt_handler.py")], check=True)
    return root


def wall_ms(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    elapsed = (time.perf_counter() - start) * 1000
    if out.stdout.strip() not in ("", "200"):
        raise RuntimeError(f"unexpected answer: {out.stdout!r} {out.stderr[-500:]}")
    return elapsed


def provisioned(base: list[str], root: Path, module: str, function: str, runs: int) -> dict[str, float]:
    env = {**os.environ, "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}
    samples = [json.loads(subprocess.run([*base, PROVISIONED, str(root), module, function, json.dumps(EVENT)],
                                         check=True, capture_output=True, text=True, env=env).stdout)
               for _ in range(runs)]
    return {key: round(statistics.median(s[key] for s in samples), 2)
            for key in ("init_ms", "first_request_ms", "second_request_ms")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", default="3.12", help="the bundle's target Python (as runtime.python)")
    args = parser.parse_args()
    from deployer.bundle.deps import find_interpreter

    interpreter = find_interpreter(args.python)
    if interpreter is None:
        sys.exit(f"no python{args.python} on this machine: the bundle's target Python is needed to run it")
    env_plain = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_INITIALIZATION_TYPE"}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ours_root = build_ours(workdir, args.python)
        pt_root = build_powertools(workdir, args.python, interpreter)
        base = [interpreter, "-I", "-S", "-c"]
        event = json.dumps(EVENT)
        bare_cmd = [*base, SETUP, str(ours_root)]
        ours_cmd = [*base, ON_DEMAND, str(ours_root), "handlers.runtime", "handler", event]
        pt_cmd = [*base, ON_DEMAND, str(pt_root), "pt_handler", "handler", event]
        import_cmd = [*base, SETUP + "import handlers.runtime", str(ours_root)]
        for cmd in (ours_cmd, pt_cmd):  # warm the page cache, check both answer 200
            wall_ms(cmd, env_plain)
        bare, ours, powertools, imports = [], [], [], []
        for _ in range(args.runs):  # interleaved, so drift hits all alike
            bare.append(wall_ms(bare_cmd, env_plain))
            ours.append(wall_ms(ours_cmd, env_plain))
            powertools.append(wall_ms(pt_cmd, env_plain))
            imports.append(wall_ms(import_cmd, env_plain))
        heavy = json.loads(subprocess.run([*base, IMPORTS, str(ours_root), *HEAVY], check=True, capture_output=True,
                                          text=True, env=env_plain).stdout)
        prov_runs = max(3, args.runs // 3)
        ours_prov = provisioned(base, ours_root, "handlers.runtime", "handler", prov_runs)
        pt_prov = provisioned(base, pt_root, "pt_handler", "handler", prov_runs)
    med = statistics.median
    bare_ms, ours_ms, pt_ms = med(bare), med(ours), med(powertools)
    ratio = round(ours_ms / pt_ms, 3)
    result = {
        "benchmark": "cold_start",
        "interpreter": interpreter,
        "runs": args.runs,
        "baseline": "Powertools Logger + Metrics + a pydantic input model, the same answer, record and metrics, "
                    "as a Lambda task root of the pip-installed wheels; fresh processes interleaved with ours",
        "on_demand": {
            "what": "process wall time, spawn to the first answer (interpreter start + init + first request)",
            "bare_interpreter_ms": round(bare_ms, 1),
            "ours_ms": round(ours_ms, 1),
            "baseline_powertools_ms": round(pt_ms, 1),
            "ours_over_bare_ms": round(ours_ms - bare_ms, 1),
            "powertools_over_bare_ms": round(pt_ms - bare_ms, 1),
            "ratio_ours_over_powertools": ratio,
            "ratio_over_bare_interpreter": round((ours_ms - bare_ms) / (pt_ms - bare_ms), 3),
            "target_ratio": TARGET_RATIO,
            "pass": ratio <= TARGET_RATIO,
        },
        "provisioned_concurrency": {
            "what": "medians in-process: init (module import; ours loads agent, model, validators there), "
                    "then the first and the second request",
            "ours": ours_prov,
            "baseline_powertools": pt_prov,
        },
        "handler_import_over_bare_ms": round(med(imports) - bare_ms, 2),
        "heavy_modules_at_import": heavy,
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
