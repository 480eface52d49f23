"""The SLO gate and the concurrency verdicts (pure); the brief's checklist is in `checklist`.

A check compares one figure with one SLO. It refuses to judge on fewer samples than
`slos.min_samples` ("not enough samples"), and a figure without an SLO is reported, not judged.
The gate passes only when every judged check passed: "not enough samples" does not pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from deployer.compiled import DeploymentModel
from deployer.loadtest.summary import Figures

Status = Literal["pass", "fail", "not enough samples", "no slo"]

#: Memory judged against this share of the function's memory when the spec sets no memory SLO
#: (the brief's "memory_usage > 80%" alert).
MEMORY_SHARE_OF_FUNCTION = 0.8
#: The brief's defaults, used by the checklist where the spec has no SLO.
BRIEF_P99_MS = 2000.0
BRIEF_ERROR_RATE_PCT = 1.0
SECONDS_PER_MONTH = 30 * 24 * 3600
#: Memory growth is also shown as what it would be after this many requests.
PROJECT_TO_REQUESTS = 100_000


@dataclass(frozen=True)
class Check:
    key: str
    label: str
    value: float | None
    unit: str
    threshold: float | None
    comparison: Literal["<=", ">="]
    status: Status
    detail: str
    source: str  # where the threshold comes from

    @property
    def judged(self) -> bool:
        return self.status != "no slo"


@dataclass(frozen=True)
class LevelVerdict:
    """One concurrency level of the sweep."""

    level: int
    requests: int
    succeeded: int
    timed_out: int
    failed: int
    p99_ms: float | None
    error_rate_pct: float | None
    met_slos: bool
    why: str
    rps: float | None = None  # completed requests per second at this level


def _judge(key: str, label: str, value: float | None, unit: str, threshold: float | None, source: str,
           *, samples: int, min_samples: int, comparison: Literal["<=", ">="] = "<=",
           detail: str = "") -> Check:
    detail = detail or f"{samples:,} samples"
    if threshold is None:
        return Check(key, label, value, unit, None, comparison, "no slo", detail, "not set in the spec")
    if samples < min_samples or value is None:
        why = f"needs {min_samples:,} samples, got {samples:,}"
        return Check(key, label, value, unit, threshold, comparison, "not enough samples", why, source)
    ok = value <= threshold if comparison == "<=" else value >= threshold
    return Check(key, label, value, unit, threshold, comparison, "pass" if ok else "fail", detail, source)


def slo_checks(figures: Figures, model: DeploymentModel, *, tolerance: float) -> tuple[Check, ...]:
    slos = model.slos
    need = slos.min_samples
    n = figures.requests
    checks = [
        _judge("latency_p50", "p50 latency", figures.latency_p50_ms, "ms", slos.latency_p50_ms,
               "slos.latency_p50_ms", samples=n, min_samples=need),
        _judge("latency_p95", "p95 latency", figures.latency_p95_ms, "ms", slos.latency_p95_ms,
               "slos.latency_p95_ms", samples=n, min_samples=need),
        _judge("latency_p99", "p99 latency", figures.latency_p99_ms, "ms", slos.latency_p99_ms,
               "slos.latency_p99_ms", samples=n, min_samples=need, detail=_p99_detail(figures)),
        _judge("error_rate", "error rate", figures.error_rate_pct, "%", slos.error_rate_pct,
               "slos.error_rate_pct", samples=n, min_samples=need,
               detail=f"{figures.failed:,} failed, {figures.timed_out:,} timed out of {n:,}"),
    ]
    if figures.asked_rps:
        achieved = figures.achieved_rps or 0.0
        checks.append(_judge(
            "throughput", "throughput achieved", achieved, "rps", figures.asked_rps * tolerance,
            f"asked {figures.asked_rps:g} rps, {tolerance:.0%} must be held", samples=n, min_samples=need,
            comparison=">=", detail=f"{achieved / figures.asked_rps:.1%} of the asked {figures.asked_rps:g} rps"))
    memory_limit = slos.memory_max_mb
    memory_source = "slos.memory_max_mb"
    if memory_limit is None:
        memory_limit = model.function.memory_mb * MEMORY_SHARE_OF_FUNCTION
        memory_source = f"{MEMORY_SHARE_OF_FUNCTION:.0%} of function memory {model.function.memory_mb} MB"
    checks.append(_judge("memory_after", f"memory after {n:,} requests", figures.memory_after_mb, "MB",
                         memory_limit, memory_source, samples=figures.memory_samples, min_samples=need))
    checks.append(_judge("memory_growth", "memory growth per 10k requests", figures.memory_growth_mb_per_10k,
                         "MB", slos.memory_growth_mb_per_10k, "slos.memory_growth_mb_per_10k",
                         samples=figures.memory_samples, min_samples=need,
                         detail=_growth_detail(figures)))
    checks.append(_judge("cost_per_request", "cost per request", figures.cost_per_request_usd, "USD",
                         slos.cost_per_request_usd, "slos.cost_per_request_usd",
                         samples=figures.cost_samples, min_samples=need,
                         detail=_cost_detail(figures)))
    checks.append(_judge("projected_monthly", "projected monthly cost", figures.projected_monthly_usd, "USD",
                         model.cost.monthly_budget_usd, "budget.monthly_usd", samples=figures.cost_samples,
                         min_samples=need,
                         detail=f"at {figures.expected_requests_per_month:,.0f} requests/month"))
    confidence_alarm = next((a for a in model.alarms if a.kind == "confidence_drop"), None)
    checks.append(_judge("confidence", "model confidence (mean)", figures.confidence_mean, "",
                         confidence_alarm.threshold if confidence_alarm else None,
                         f"alarm {confidence_alarm.name}" if confidence_alarm else "",
                         samples=figures.confidence_samples, min_samples=need, comparison=">=",
                         detail=_confidence_detail(figures, model)))
    return tuple(checks)


def _p99_detail(figures: Figures) -> str:
    """Requests that left late (every user busy) waited before they were sent: say how long."""
    scheduled = figures.latency_from_schedule_p99_ms
    if scheduled is None or figures.latency_p99_ms is None or scheduled <= figures.latency_p99_ms * 1.1 + 1:
        return f"{figures.requests:,} samples"
    return f"{figures.requests:,} samples; {format_value(scheduled, 'ms')} counted from each request's scheduled time"


def _growth_detail(figures: Figures) -> str:
    """The slope, and what it makes of memory after 100k requests (the brief's leak picture)."""
    detail = f"least-squares slope over {figures.memory_samples:,} samples (warm-up excluded)"
    growth, after = figures.memory_growth_mb_per_10k, figures.memory_after_mb
    if growth is not None and after is not None and growth > 0 and figures.requests < PROJECT_TO_REQUESTS:
        projected = after + growth * (PROJECT_TO_REQUESTS - figures.requests) / 10_000
        detail += f"; at this rate about {format_value(projected, 'MB')} after {PROJECT_TO_REQUESTS:,} requests"
    return detail


def _cost_detail(figures: Figures) -> str:
    if figures.cost_per_1000_usd is None:
        return "no response carried usage.cost_usd"
    return f"{format_value(figures.cost_per_1000_usd, 'USD')} per 1000 requests"


def _confidence_detail(figures: Figures, model: DeploymentModel) -> str:
    if figures.low_confidence_pct is None:
        return f"{figures.confidence_samples:,} samples"
    return (f"{figures.low_confidence_pct:.1f}% below the model's threshold "
            f"{model.model.confidence_threshold:g} (escalated)")


def gate_passed(checks: tuple[Check, ...]) -> bool:
    return all(c.status == "pass" for c in checks if c.judged)


def level_verdict(level: int, figures: Figures, model: DeploymentModel) -> LevelVerdict:
    """A level meets the SLOs when nothing timed out and error rate and p99 are within them."""
    slos = model.slos
    reasons: list[str] = []
    if figures.requests == 0:
        reasons.append("no request completed")
    if figures.timed_out:
        reasons.append(f"{figures.timed_out} timed out")
    limit = slos.error_rate_pct if slos.error_rate_pct is not None else BRIEF_ERROR_RATE_PCT
    if figures.error_rate_pct is not None and figures.error_rate_pct > limit:
        reasons.append(f"error rate {figures.error_rate_pct:.2f}% > {limit:g}%")
    p99_limit = slos.latency_p99_ms if slos.latency_p99_ms is not None else BRIEF_P99_MS
    if figures.latency_p99_ms is not None and figures.latency_p99_ms > p99_limit:
        reasons.append(f"p99 {figures.latency_p99_ms:.0f} ms > {p99_limit:g} ms")
    note = "" if figures.requests >= slos.min_samples else f" (p99 over {figures.requests} samples only)"
    return LevelVerdict(
        level=level, requests=figures.requests, succeeded=figures.ok, timed_out=figures.timed_out,
        failed=figures.failed, p99_ms=figures.latency_p99_ms, error_rate_pct=figures.error_rate_pct,
        met_slos=not reasons, why=("; ".join(reasons) or "all within the SLOs") + note, rps=figures.achieved_rps)


def max_level(levels: tuple[LevelVerdict, ...]) -> int | None:
    """The highest level that met the SLOs with every lower level meeting them too."""
    best: int | None = None
    for verdict in sorted(levels, key=lambda v: v.level):
        if not verdict.met_slos:
            break
        best = verdict.level
    return best


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "USD":
        if value == 0 or abs(value) >= 1:
            return f"${value:,.2f}"
        decimals = min(12, max(2, 2 - math.floor(math.log10(abs(value)))))  # three significant digits
        return f"${value:.{decimals}f}"
    if unit == "%":
        return f"{value:.2f}%"
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "MB":
        return f"{value:,.1f} MB"
    return f"{value:,.3g}{(' ' + unit) if unit else ''}"
