"""Per-request overhead of the runtime, side by side with AWS Lambda Powertools Logger + Metrics.

Both handlers do the same work around an action that returns at once: read the Function URL
event, validate the JSON body against the action's type hints (the same pydantic adapter),
call the action, build the JSON response, write one structured log line with the same fields
and one EMF line with the same eight metrics and dimensions. Ours: `handlers.runtime.Runtime`
(also enforcing the action deadline, computing cost and redacting). Powertools: `Logger` +
`Metrics` (`@metrics.log_metrics`) around the same steps. Two monitoring policies:

- `flagship`: the root agent.yaml's (seven redaction built-ins, `sample_rate: 0.1`: one request
  in ten logs its input and output); Powertools logs the record without them.
- `sample_rate_1`: every request logs its input and output (`sample_rate: 1.0`, the spec's
  default), redacted by the same seven built-ins; Powertools logs the parsed input and the
  output in its record too (and redacts nothing: it has no equivalent).

Runs are interleaved in blocks, in one process; output is discarded (/dev/null). The baseline
is Powertools in the same run; the target: ours <= 0.2x Powertools at p50 under each policy.

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


#: The root agent.yaml's redaction list.
FLAGSHIP_REDACTION = ["email", "phone", "card_number", "iban", "aws_key", "bearer_token", "api_key"]
#: policy name -> sample rate (both with the flagship's redaction)
POLICIES = {"flagship": 0.1, "sample_rate_1": 1.0}
TARGET_RATIO = 0.2


def runtime_config(root: Path, sample_rate: float) -> dict[str, Any]:
    monitoring = {"log_inputs": True, "log_outputs": True, "log_latency": True, "log_errors": True,
                  "sample_rate": sample_rate, "redaction": {"builtins": FLAGSHIP_REDACTION, "patterns": []}}
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


_OPENINGS = ["Hello,", "Hi team,", "Good morning,", "Please help:", "Urgent:", "Dear support,", "Hey there,", "A question:"]
_MIDDLES = ["I was charged twice for my card", "my card was declined at the shop", "the transfer has not arrived",
            "I cannot log in to the app", "my statement shows a fee I do not know", "the card never came in the post",
            "I want to close my account", "the payment went to the wrong person"]
_WHEN = ["last Tuesday evening", "yesterday at the station", "this morning online", "at some point over the weekend",
         "on my holiday abroad", "earlier this month", "just now in the supermarket", "every day since last Friday"]
_ENDINGS = ["thanks a lot", "what should I do", "please call me back", "is this a fraud", "can you refund it", "I need it sorted today",
            "it is the second time", "I am travelling next week"]
#: 4,096 distinct support messages sent in turn, each longer than the redaction memo's texts (so
#: inputs are redacted in full every time); the action answers one of a few labels, as a router does.
MESSAGES = [f"{a} {b} {w}, {c}." for a in _OPENINGS for b in _MIDDLES for w in _WHEN for c in _ENDINGS]


def event(message: str = MESSAGES[0]) -> dict[str, Any]:
    return {"version": "2.0", "rawPath": "/route", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/route"}},
            "body": json.dumps({"message": message}), "isBase64Encoded": False}


def build_ours(root: Path, sink: Any, sample_rate: float) -> Any:
    from handlers.config import RuntimeConfig
    from handlers.runtime import Runtime

    runtime = Runtime(RuntimeConfig.from_dict(runtime_config(root, sample_rate)), stream=sink, environ={},
                      rng=random.Random(0))
    loaded = runtime.load()  # the cold start: agent import, model load (outside the measurement)
    assert loaded.error is None, loaded.error
    return runtime.handle


def build_powertools(root: Path, sink: Any, log_payloads: bool) -> Any:
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
        record = {
            "request_id": request_id, "ts": int(time.time() * 1000), "agent": "bench", "action": "route",
            "version": "$LATEST", "environment": "bench", "status": 200, "outcome": "ok", "latency_ms": latency_ms,
            "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "confidence": None, "memory_mb": 0.0,
            "error_type": None, "error_message": None, "replay": False,
        }
        if log_payloads:
            record["input"] = json.loads(event["body"])
            record["output"] = output
        logger.info("request", extra=record)
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


EVENTS = [event(m) for m in MESSAGES]
assert min(map(len, MESSAGES)) > 64, "inputs must be longer than handlers.redaction.MEMO_MAX_CHARS"


def measure(handler: Any, count: int, sink_redirect: Any) -> list[float]:
    out: list[float] = []
    clock = time.perf_counter_ns
    events = EVENTS
    with contextlib.redirect_stdout(sink_redirect):
        for index in range(count):
            ev = events[index % len(events)]
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


def run_policy(root: Path, sink: Any, sample_rate: float, requests: int, blocks: int) -> dict[str, Any]:
    ours = build_ours(root, sink, sample_rate)
    powertools = build_powertools(root, sink, log_payloads=sample_rate > 0.0)
    with contextlib.redirect_stdout(sink):
        first = ours(event(), None)
        assert first["statusCode"] == 200, first
        assert powertools(event(), None)["statusCode"] == 200
    measure(ours, 2000, sink)
    measure(powertools, 2000, sink)
    per_block = max(1, requests // blocks)
    ours_samples: list[float] = []
    pt_samples: list[float] = []
    gc.collect()
    for _ in range(blocks):
        ours_samples += measure(ours, per_block, sink)
        pt_samples += measure(powertools, per_block, sink)
    ours_stats, pt_stats = summary(ours_samples), summary(pt_samples)
    ratio_p50 = round(ours_stats["p50_us"] / pt_stats["p50_us"], 3)
    return {
        "sample_rate": sample_rate,
        "requests_each": len(ours_samples),
        "deployer_runtime": ours_stats,
        "baseline_powertools_logger_metrics": pt_stats,
        "ratio_ours_over_powertools": {"p50": ratio_p50,
                                       "p99": round(ours_stats["p99_us"] / pt_stats["p99_us"], 3)},
        "target_ratio_p50": TARGET_RATIO,
        "pass": ratio_p50 <= TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000, help="per handler and policy")
    parser.add_argument("--blocks", type=int, default=10)
    args = parser.parse_args()
    random.seed(0)
    results: dict[str, Any] = {}
    calibration: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as sink:
        root = Path(tmp)
        (root / "bench_agent.py").write_text(AGENT)
        (root / "bench_model.py").write_text(MODEL)
        for name, rate in POLICIES.items():
            calibration.append(calibration_us(2000))
            results[name] = run_policy(root, sink, rate, args.requests, args.blocks)
        calibration.append(calibration_us(2000))
    result = {
        "benchmark": "request_overhead",
        "python": sys.version.split()[0],
        "baseline": "Powertools Logger + Metrics doing the same work, in the same run (interleaved blocks)",
        "policies": results,
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()],
                    "json_dumps_of_one_record_p50_us": sorted(calibration)[len(calibration) // 2]},
        "pass": all(r["pass"] for r in results.values()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
