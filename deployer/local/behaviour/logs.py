"""The function's log stream, as CloudWatch Logs receives it from Lambda.

The gateway hands over each request's captured lines (the handler's request log line, its EMF
line, anything it printed, Lambda's `REPORT` line). `FunctionLogs` does with them what CloudWatch
Logs and its subscriptions do in AWS:

- every line goes to the telemetry sink (`forward`), which writes the request records into the
  request log and the EMF metrics into moto CloudWatch, off this process;
- the EMF datapoints of the metrics the alarms read are stored here at once (`MetricStore`), both
  dimension sets: per version (gating alarms) and per environment (service alarms);
- every other line is kept, for `tail` (`deployer logs --env local`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from deployer.compiled import AlarmModel
from deployer.local.behaviour.metrics import MetricStore, parse_emf

#: Lines kept for `tail`; past that, the oldest half is dropped.
KEEP_LINES = 20_000


#: The online quality signals the rollout compares (handlers/quality.py).
QUALITY_METRICS = ("Answers", "LowConfidence")


def alarm_metrics(alarms: Iterable[AlarmModel]) -> frozenset[str]:
    """The metrics the alarms, the rollout's traffic count and its quality gate read."""
    return frozenset({"Invocations", "Errors", *QUALITY_METRICS, *(a.metric for a in alarms)})


def parse_line(line: str) -> dict[str, Any] | None:
    """A JSON object log line (a request record, an EMF document), or None."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class FunctionLogs:
    """Takes each request's log lines: to the sink, the alarms' datapoints to the store, the rest kept."""

    def __init__(self, metrics: MetricStore, *, forward: Callable[[float, list[str]], None],
                 metric_names: frozenset[str]) -> None:
        self._metrics = metrics
        self._forward = forward
        #: the metrics whose EMF datapoints are stored (`alarm_metrics` of the current alarms)
        self.metric_names = metric_names
        self._lines: list[str] = []

    def add(self, version: str, lines: list[str], at: float) -> None:
        """One request's lines, served by `version` at emulated time `at`."""
        self._forward(at, lines)
        for line in lines:
            # EMF (a JSON object whose `_aws` is an object): only the datapoints, for the alarms.
            # A request record that merely mentions "_aws" (an action, an input) is kept.
            obj = parse_line(line) if '"_aws"' in line else None
            if obj is not None and isinstance(obj.get("_aws"), dict):
                for key, value, _ in parse_emf(obj, names=self.metric_names):
                    self._metrics.add(key, at, value)
                continue
            self._keep(line if line.startswith("{") else f"[v{version}] {line}")

    def _keep(self, line: str) -> None:
        lines = self._lines
        lines.append(line)
        if len(lines) > KEEP_LINES:
            del lines[:KEEP_LINES // 2]

    def tail(self, limit: int = 100) -> list[str]:
        return self._lines[-limit:]
