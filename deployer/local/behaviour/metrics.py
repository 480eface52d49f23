"""EMF log lines -> metric datapoints, kept in memory and mirrored into moto CloudWatch.

The handler prints one CloudWatch Embedded Metric Format line per request. In AWS, CloudWatch
Logs extracts the metrics; here `parse_emf` does it. Datapoints are stamped with the emulator's
clock (not the handler's own timestamp) so that a scaled clock stays consistent.

`MetricStore` keeps the raw values (percentiles need them: moto has no percentile statistics)
and answers range queries for the alarm evaluator. `CloudWatchMirror` (run by the telemetry sink
process, `deployer.local.state.sink`) batches the same datapoints for moto as `PutMetricData` datums,
one statistic set (SampleCount, Sum, Minimum, Maximum) per metric and second: what moto can answer
(`get_metric_statistics`; moto has no percentiles), at a fraction of the cost of raw values.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

Dimensions = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MetricKey:
    namespace: str
    name: str
    dimensions: Dimensions  # sorted (name, value) pairs

    @staticmethod
    def of(namespace: str, name: str, dimensions: dict[str, str]) -> MetricKey:
        return MetricKey(namespace, name, tuple(sorted((k, str(v)) for k, v in dimensions.items())))


_KEYS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], MetricKey] = {}


def parse_emf(obj: dict[str, Any], *, names: frozenset[str] | None = None,
              with_dimension: str | None = None) -> list[tuple[MetricKey, float, str]]:
    """Every (metric, value, unit) an EMF document declares; [] when it is not EMF.

    `names` keeps only those metrics and `with_dimension` only the dimension sets holding that
    dimension (the gateway keeps what its alarms read: per-version datapoints of their metrics).
    """
    meta = obj.get("_aws")
    if not isinstance(meta, dict):
        return []
    out: list[tuple[MetricKey, float, str]] = []
    directives = meta.get("CloudWatchMetrics")
    for directive in directives if isinstance(directives, list) else []:
        if not isinstance(directive, dict):
            continue  # a line printed by the agent may have any shape: what is not EMF is skipped
        namespace = str(directive.get("Namespace", ""))
        dimension_sets = directive.get("Dimensions") or [[]]
        metrics = directive.get("Metrics")
        if not isinstance(dimension_sets, list) or not isinstance(metrics, list):
            continue
        for metric in metrics:
            name = metric.get("Name") if isinstance(metric, dict) else None
            if not isinstance(name, str) or name not in obj or (names is not None and name not in names):
                continue
            unit = str(metric.get("Unit", "None"))
            raw = obj[name]
            values = raw if isinstance(raw, list) else [raw]
            for dimension_names in dimension_sets:
                if not isinstance(dimension_names, list) or not all(isinstance(d, str) for d in dimension_names):
                    continue
                if with_dimension is not None and with_dimension not in dimension_names:
                    continue
                if any(d not in obj for d in dimension_names):
                    continue
                values_of_dims = tuple(str(obj[d]) for d in dimension_names)
                cache_key = (namespace, name, tuple(dimension_names), values_of_dims)
                key = _KEYS.get(cache_key)
                if key is None:
                    key = MetricKey.of(namespace, name, dict(zip(dimension_names, values_of_dims, strict=True)))
                    if len(_KEYS) < 10_000:
                        _KEYS[cache_key] = key
                for value in values:
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        out.append((key, float(value), unit))
    return out


class MetricStore:
    """Raw datapoints per metric, in time order. Thread-safe."""

    def __init__(self, retention_s: float = 7200.0, *, minute_retention_s: float = 0.0) -> None:
        self._times: dict[MetricKey, list[float]] = defaultdict(list)
        self._values: dict[MetricKey, list[float]] = defaultdict(list)
        #: per-minute sums (minute start -> sum), kept longer than the raw values: a rollout's
        #: traffic count reads them over a whole step, which can last hours
        self._minutes: dict[MetricKey, dict[int, float]] = defaultdict(dict)
        self._lock = threading.Lock()
        self._retention_s = retention_s
        self._minute_retention_s = max(retention_s, minute_retention_s)

    def add(self, key: MetricKey, ts: float, value: float) -> None:
        with self._lock:
            minutes = self._minutes[key]
            minute = int(ts // 60) * 60
            minutes[minute] = minutes.get(minute, 0.0) + value
            times, values = self._times[key], self._values[key]
            if times and ts < times[-1]:  # out of order: keep the lists sorted
                index = bisect.bisect_right(times, ts)
                times.insert(index, ts)
                values.insert(index, value)
            else:
                times.append(ts)
                values.append(value)

    def values(self, key: MetricKey, start: float, end: float) -> list[float]:
        """Values with start <= ts < end."""
        with self._lock:
            times = self._times.get(key)
            if not times:
                return []
            lo = bisect.bisect_left(times, start)
            hi = bisect.bisect_left(times, end)
            return self._values[key][lo:hi]

    def sums(self, key: MetricKey, start: float, end: float, period_s: int = 60) -> list[tuple[float, float]]:
        """(period start, sum) of each non-empty `period_s` period (a multiple of 60) within
        [start, end), as GetMetricStatistics' Sum returns them; `start` should be aligned."""
        with self._lock:
            minutes = dict(self._minutes.get(key, {}))
        out: dict[float, float] = {}
        for minute, total in minutes.items():
            if start <= minute < end:
                bucket = start + (minute - start) // period_s * period_s
                out[bucket] = out.get(bucket, 0.0) + total
        return sorted(out.items())

    def totals_by(self, namespace: str, name: str, dimension: str, start: float, end: float) -> dict[str, float]:
        """Sum of one metric within [start, end) per value of `dimension` (e.g. per Version)."""
        with self._lock:
            keys = [k for k in self._times if k.namespace == namespace and k.name == name]
        totals: dict[str, float] = {}
        for key in keys:
            value = dict(key.dimensions).get(dimension)
            total = sum(self.values(key, start, end)) if value is not None else 0.0
            if total > 0 and value is not None:
                totals[value] = totals.get(value, 0.0) + total
        return totals

    def keys(self) -> list[MetricKey]:
        with self._lock:
            return list(self._times)

    def prune(self, now: float) -> None:
        """Forget datapoints older than the retention (the longest alarm window needs less)."""
        cutoff = now - self._retention_s
        minute_cutoff = now - self._minute_retention_s
        with self._lock:
            for minutes in self._minutes.values():
                for minute in [m for m in minutes if m < minute_cutoff]:
                    del minutes[minute]
            for key, times in self._times.items():
                drop = bisect.bisect_left(times, cutoff)
                if drop:
                    del times[:drop]
                    del self._values[key][:drop]


class CloudWatchMirror:
    """Datapoints for moto CloudWatch, in batches: `add` them, then `take` the `PutMetricData` datums.

    The telemetry sink process drives it (`deployer.local.state.sink.main`): it adds the
    datapoints of each batch the gateway sends, then hands what `take` returns to moto's loader
    (`deployer.local.state.moto_server`), off the request path.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[MetricKey, float, float, str]] = []

    def add(self, key: MetricKey, ts: float, value: float, unit: str) -> None:
        self._pending.append((key, ts, value, unit))

    def take(self) -> dict[str, list[dict[str, Any]]]:
        """The datums of everything added since the last call, per namespace: one statistic set per
        (metric, dimensions, unit, whole second), as moto's `put_metric_data` keeps them (naive UTC times)."""
        pending, self._pending = self._pending, []
        grouped: dict[tuple[MetricKey, str, int], list[float]] = defaultdict(list)
        for key, ts, value, unit in pending:
            grouped[(key, unit, int(ts))].append(value)
        by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for (key, unit, second), values in grouped.items():
            datum: dict[str, Any] = {
                "MetricName": key.name,
                "Dimensions": [{"Name": n, "Value": v} for n, v in key.dimensions],
                "Timestamp": dt.datetime.fromtimestamp(second, tz=dt.UTC).replace(tzinfo=None),  # as moto keeps it
                "StatisticValues": {"SampleCount": float(len(values)), "Sum": float(sum(values)),
                                    "Minimum": float(min(values)), "Maximum": float(max(values))},
            }
            if unit in _CLOUDWATCH_UNITS:
                datum["Unit"] = unit
            by_namespace[key.namespace].append(datum)
        return dict(by_namespace)


_CLOUDWATCH_UNITS = frozenset(
    {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
     "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
     "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
     "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}
)
