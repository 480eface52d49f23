"""A minimal stand-in bundle for tests and benchmarks: an agent whose actions return at once.

`build_echo_bundle(model, out_dir)` has the signature of `deployer.bundle.build_bundle` and
writes a bundle whose `handlers.runtime.handler` answers `POST /{action}` with the input echoed
back, prints one request log line and one EMF line per request in the runtime's shapes, and honours
the fault-injection variables (`DEPLOYER_FAULT_ERROR_RATE`, `DEPLOYER_FAULT_LATENCY_MS`,
`DEPLOYER_FAULT_COST_MULTIPLIER`) read at cold start. It lets the emulator be measured and tested
without the cost of a real agent; everything else (worker, gateway, alarms, rollout) is real.
"""

from __future__ import annotations

import json
from pathlib import Path

from deployer.compiled import DeploymentModel

ECHO_RUNTIME = r'''
import json, os, random, sys, time, uuid

ERROR_RATE = float(os.environ.get("DEPLOYER_FAULT_ERROR_RATE", "0") or 0)
LATENCY_MS = float(os.environ.get("DEPLOYER_FAULT_LATENCY_MS", "0") or 0)
COST_MULTIPLIER = float(os.environ.get("DEPLOYER_FAULT_COST_MULTIPLIER", "1") or 1)
with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deployer_config.json")) as f:
    CONFIG = json.load(f)
AGENT, ENV = CONFIG["agent"], CONFIG["environment"]
DIMS = [["Agent", "Environment", "Version"], ["Agent", "Environment"]]
METRICS = [{"Name": n, "Unit": u} for n, u in (("Invocations", "Count"), ("Errors", "Count"),
           ("ClientErrors", "Count"), ("Latency", "Milliseconds"), ("CostUSD", "None"))]


def handler(event, context):
    started = time.perf_counter()
    version = context.function_version
    action = (event.get("rawPath") or "/").strip("/") or "echo"
    replay = (event.get("headers") or {}).get("x-deployer-replay") == "1"
    body = event.get("body") or "{}"
    try:
        payload, is_json = json.loads(body), True
    except ValueError:
        payload, is_json = None, False
    if LATENCY_MS:
        time.sleep(LATENCY_MS / 1000.0)
    if not is_json:
        status, out, error = 400, {"error": "body is not JSON"}, "BadRequest"
    elif ERROR_RATE and random.random() < ERROR_RATE:
        status, out, error = 500, {"error": "injected fault"}, "InjectedFault"
    else:
        status, out, error = 200, {"action": action, "echo": payload}, None
    latency = (time.perf_counter() - started) * 1000.0
    cost = 0.00001 * COST_MULTIPLIER
    ts = int(time.time() * 1000)
    rid = context.aws_request_id
    record = {"event": "request", "request_id": rid, "ts": ts, "action": action, "version": version,
              "status": status, "outcome": "error" if status >= 400 else "ok", "latency_ms": latency,
              "cost_usd": cost, "error_type": error, "input": payload, "replay": replay}
    emf = {"_aws": {"Timestamp": ts, "CloudWatchMetrics": [{"Namespace": "Deployer/Replay" if replay else "Deployer",
           "Dimensions": DIMS, "Metrics": METRICS}]}, "Agent": AGENT, "Environment": ENV, "Version": version,
           "Invocations": 1, "Errors": int(status >= 500), "ClientErrors": int(400 <= status < 500),
           "Latency": latency, "CostUSD": cost}
    sys.stdout.write(json.dumps(record) + "\n" + json.dumps(emf) + "\n")
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(out)}
'''


def write_stub_bundle(model: DeploymentModel, out_dir: Path, runtime_source: str) -> Path:
    """A bundle whose `handlers.runtime` is `runtime_source`, with `model`'s runtime config; returns its dir."""
    out_dir = Path(out_dir)
    (out_dir / "handlers").mkdir(parents=True, exist_ok=True)
    (out_dir / "handlers" / "__init__.py").write_text("")
    (out_dir / "handlers" / "runtime.py").write_text(runtime_source)
    (out_dir / "deployer_config.json").write_text(json.dumps(model.runtime_config(), indent=1, sort_keys=True))
    return out_dir


def build_echo_bundle(model: DeploymentModel, out_dir: Path) -> Path:
    """Write the echo bundle for `model` into `out_dir` and return it."""
    return write_stub_bundle(model, out_dir, ECHO_RUNTIME)
