"""Per-request overhead of the runtime, side by side with AWS Lambda Powertools Logger + Metrics.

Both handlers do the same work around an action that returns at once: read the Function URL
event, validate the JSON body against the action's type hints (the same pydantic adapter),
call the action, build the JSON response, write one structured log line with the same fields
and one EMF line with the same eight metrics and dimensions. Ours: `handlers.runtime.Runtime`
(also enforcing the action deadline and computing cost). Powertools: `Logger` + `Metrics`
(`@metrics.log_metrics`) around the same steps. Runs are interleaved in blocks, in one process;
output is discarded (/dev/null). Targets for ours: p50 <= 20 us, p99 <= 100 us.

Run: .venv/bin/python bench/request_overhead.py [--requests 20000]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = '''\
class Fixed:
    def predict(self, text):
        return {"text": "cards"}


def load(artifacts_dir, parameters):
    return Fixed()
'''

AGENT = '''\
from handlers import action, agent


@agent
class Bench:
    @action
    def route(self, message: str) -> dict[str, str]:
        return {"team": "cards"}
'''


def runtime_config(root: Path) -> dict[str, Any]:
    monitoring = {"log_inputs": True, "log_outputs": True, "log_latency": True, "log_errors": True,
                  "sample_rate": 0.0, "redaction": {"builtins": ["email", "phone", "card_number"], "patterns": []}}
    return {
        "agent": "bench", "environment": "bench", "spec_hash": "x",
        "code": {"root": str(root), "module": "bench_agent", "class_name": "Bench"},
        "function": {"memory_mb": 512, "timeout_s": 10},
        "model": {"provider": "python", "model_id": "bench_model:load", "pricing": {"input_per_1k_usd": 0.0, "output_per_1k_usd": 0.0}},
        "actions": [{"name": "route", "timeout_s": 2.0, "memory_mb": 512, "max_payload_bytes": 262144,
                     "monitoring": monitoring}],
        "monitoring": monitoring,
        "metrics": {"namespace": "Deployer", "replay_namespace": "Deployer/Replay"},
        "lambda_pricing": {"gb_second_usd": 0.0000166667, "request_usd": 0.0000002},
    }


def event() -> dict[str, Any]:
    return {"version": "2.0", "rawPath": "/route", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/route"}},
            "body": '{"message": "I was charged twice for my card"}', "isBase64Encoded": False}


def build_ours(root: Path, sink: Any) -> Any:
    from handlers.config import RuntimeConfig
    from handlers.runtime import Runtime

    runtime = Runtime(RuntimeConfig.from_dict(runtime_config(root)), stream=sink, environ={})
    loaded = runtime.load()  # the cold start: agent import, model load (outside the measurement)
    assert loaded.error is None, loaded.error
    return runtime.handle


def build_powertools(root: Path, sink: Any) -> Any:
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    from handlers.validation import InputValidator

    module = sys.modules["bench_agent"]
    instance = module.Bench()
    call = instance.route
    validator = InputValidator(call, "route")
    logger = Logger(service="bench", logger_handler=logging.StreamHandler(sink))
    metrics = Metrics(namespace="Deployer", service="bench")
    metrics.set_default_dimensions(Agent="bench", Environment="bench", Version="$LATEST")

    @metrics.log_metrics
    def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        start = time.perf_counter()
        request_id = os.urandom(16).hex()
        kwargs = validator.validate_json(event["body"])
        output = call(**kwargs)
        latency_ms = (time.perf_counter() - start) * 1000
        body = json.dumps({"request_id": request_id, "action": "route", "version": "$LATEST", "output": output,
                           "usage": {"latency_ms": latency_ms, "input_tokens": 0, "output_tokens": 0,
                                     "cost_usd": 0.0, "confidence": None, "memory_mb": 0.0}})
        logger.info("request", extra={
            "request_id": request_id, "ts": int(time.time() * 1000), "agent": "bench", "action": "route",
            "version": "$LATEST", "environment": "bench", "status": 200, "outcome": "ok", "latency_ms": latency_ms,
            "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "confidence": None, "memory_mb": 0.0,
            "error_type": None, "error_message": None, "replay": False,
        })
        metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=0)
        metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=0)
        metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=latency_ms)
        metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=0)
        metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=0)
        metrics.add_metric(name="CostUSD", unit=MetricUnit.NoUnit, value=0.0)
        metrics.add_metric(name="MemoryUsedMB", unit=MetricUnit.Megabytes, value=0.0)
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}

    return handler


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict[str, float]:
    return {"p50_us": round(percentile(samples, 0.50), 2), "p90_us": round(percentile(samples, 0.90), 2),
            "p99_us": round(percentile(samples, 0.99), 2), "mean_us": round(sum(samples) / len(samples), 2)}


def measure(handler: Any, count: int, sink_redirect: Any) -> list[float]:
    ev = event()
    out: list[float] = []
    clock = time.perf_counter_ns
    with contextlib.redirect_stdout(sink_redirect):
        for _ in range(count):
            start = clock()
            handler(ev, None)
            out.append((clock() - start) / 1000)
    return out


def calibration_us(count: int = 20000) -> float:
    """p50 of `json.dumps` of one request record: a yardstick of this machine's speed right now
    (about 9 us per structlog JSON line on the reference machine of FACTS.md)."""
    record = {"event": "request", "request_id": "0" * 32, "ts": 1_700_000_000_000, "agent": "bench",
              "action": "route", "version": "$LATEST", "environment": "bench", "latency_ms": 0.021,
              "input_tokens": 0, "output_tokens": 0, "cost_usd": 2.1e-07, "confidence": None, "memory_mb": 35.5,
              "outcome": "ok", "error_type": None, "error_message": None, "replay": False}
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        json.dumps(record)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return round(percentile(samples, 0.5), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args()
    random.seed(0)
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as sink:
        root = Path(tmp)
        (root / "bench_agent.py").write_text(AGENT)
        (root / "bench_model.py").write_text(MODEL)
        ours = build_ours(root, sink)
        powertools = build_powertools(root, sink)
        with contextlib.redirect_stdout(sink):
            first = ours(event(), None)
            assert first["statusCode"] == 200, first
            assert powertools(event(), None)["statusCode"] == 200
        measure(ours, 2000, sink)
        measure(powertools, 2000, sink)
        per_block = max(1, args.requests // args.blocks)
        ours_samples: list[float] = []
        pt_samples: list[float] = []
        calibration: list[float] = []
        gc.collect()
        for _ in range(args.blocks):
            ours_samples += measure(ours, per_block, sink)
            pt_samples += measure(powertools, per_block, sink)
            calibration.append(calibration_us(2000))
    ours_stats, pt_stats = summary(ours_samples), summary(pt_samples)
    result = {
        "benchmark": "request_overhead",
        "python": sys.version.split()[0],
        "requests_each": len(ours_samples),
        "deployer_runtime": ours_stats,
        "powertools_logger_metrics": pt_stats,
        "ratio_powertools_over_ours": {
            "p50": round(pt_stats["p50_us"] / ours_stats["p50_us"], 2),
            "p99": round(pt_stats["p99_us"] / ours_stats["p99_us"], 2),
        },
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
                    "json_dumps_of_one_record_p50_us": sorted(calibration)[len(calibration) // 2]},
        "targets": {"p50_us": 20, "p99_us": 100},
        "pass": ours_stats["p50_us"] <= 20 and ours_stats["p99_us"] <= 100,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
