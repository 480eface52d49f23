"""Online quality signals: what a canary's answers look like, for the rollout to compare with stable.

With `evaluation.online` in the spec, every answered request (not replays) adds one EMF line:
`Answers` (1) under the dimensions Agent, Environment, Version and Label (the answer's label
field, one of the spec's labels, else "other"), and `LowConfidence` (1 below the model's confidence
threshold, else 0; only when the answer has a confidence) under Agent, Environment, Version. The
rollout compares the candidate's with the stable version's over the same window.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OTHER = "other"


class QualitySignals:
    __slots__ = ("_agent", "_environment", "_field", "_labels", "_namespace", "_threshold")

    def __init__(self, config: dict[str, Any], *, agent: str, environment: str, namespace: str) -> None:
        self._field = config.get("field")
        self._labels = frozenset(config.get("labels") or ())
        threshold = config.get("confidence_threshold")
        self._threshold = float(threshold) if config.get("low_confidence") and threshold is not None else None
        self._agent, self._environment, self._namespace = agent, environment, namespace

    def line(self, ts_ms: int, version: str, output: Any, confidence: float | None) -> str | None:
        """The EMF line of one answer, or None when it carries no signal."""
        directives: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        if self._field is not None and isinstance(output, dict):
            label = output.get(self._field)
            values["Label"] = str(label) if str(label) in self._labels else OTHER
            values["Answers"] = 1
            directives.append({"Namespace": self._namespace, "Dimensions": [["Agent", "Environment", "Version", "Label"]],
                               "Metrics": [{"Name": "Answers", "Unit": "Count"}]})
        if self._threshold is not None and confidence is not None:
            values["LowConfidence"] = 1 if confidence < self._threshold else 0
            directives.append({"Namespace": self._namespace, "Dimensions": [["Agent", "Environment", "Version"]],
                               "Metrics": [{"Name": "LowConfidence", "Unit": "Count"}]})
        if not directives:
            return None
        return json.dumps({"_aws": {"Timestamp": ts_ms, "CloudWatchMetrics": directives}, "Agent": self._agent,
                           "Environment": self._environment, "Version": version, **values})
