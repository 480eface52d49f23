"""Alarms: from the rollout's abort conditions (or the SLOs) and from the spec's alerts.

Two scopes, two jobs (see docs/infra.md, "Which alarms watch what"):

- `version` alarms watch the candidate of a rollout (the Version dimension) and gate it: the
  rollout's abort conditions, and a `canary-<alert>` twin of every alert that rolls back. They
  notify nobody themselves; the rollout's outcome goes to `rollout.notify`.
- `service` alarms are the spec's alerts. They watch every version together (Agent and
  Environment only), so they always watch the version that serves the traffic: during a canary,
  after a promotion and after any rollback, with nothing to re-point.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from deployer.compiled import AlarmModel, Comparison
from deployer.compiler.problems import Problems, defined, did_you_mean
from deployer.spec.models import AbortSpec, AgentSpec, AlertSpec

SECONDS_PER_MONTH = 30 * 86400
#: How each alert kind is watched: metric, default statistic, comparison.
_KINDS: dict[str, tuple[str, str, Comparison]] = {
    "error_rate": ("ErrorRate", "Sum", "GreaterThanThreshold"),
    "latency": ("Latency", "p99", "GreaterThanThreshold"),
    "cost_per_request": ("CostUSD", "Average", "GreaterThanThreshold"),
    "cost_spike": ("CostUSD", "Sum", "GreaterThanThreshold"),
    "confidence_drop": ("ModelConfidence", "Average", "LessThanThreshold"),
}


def valid_period(seconds: float) -> bool:
    """CloudWatch accepts periods of 10 s, 30 s or any multiple of 60 s."""
    return seconds in (10, 30) or (seconds >= 60 and seconds % 60 == 0)


#: Name prefix of the version-scoped twin of an alert that gates the rollout.
CANARY_PREFIX = "canary-"


def compile_alarms(spec: AgentSpec, problems: Problems) -> list[AlarmModel]:
    alerts = _alert_alarms(spec, problems)
    gating = set(gating_alerts(spec))
    twins = [replace(a, name=f"{CANARY_PREFIX}{a.name}", scope="version", notify=(), gates_rollout=True,
                     description=f"{a.description} (on the candidate version: gates the rollout)")
             for a in alerts if a.name in gating]
    return [*_abort_alarms(spec, problems), *twins, *alerts]


def gating_alerts(spec: AgentSpec) -> list[str]:
    """The alerts whose candidate-version twin gates the rollout (`rollout.alarms`, else `rollback: true`)."""
    chosen = spec.rollout.alarms
    if chosen is None:
        return [name for name, alert in spec.alerts.items() if alert.rollback]
    return [name for name in dict.fromkeys(chosen) if name in spec.alerts]


def low_sample_policy(statistic: str) -> Literal["evaluate", "ignore"]:
    """Percentiles ignore periods with too few samples (a p99 of five requests means nothing)."""
    return "ignore" if statistic[:1].lower() == "p" else "evaluate"


def _abort_alarms(spec: AgentSpec, problems: Problems) -> list[AlarmModel]:
    abort = spec.rollout.abort
    source: str = "abort"
    if abort is None:  # default: roll back on the SLOs
        source = "slo"
        slos = spec.slos
        abort = AbortSpec(
            error_rate_pct=slos.error_rate_pct,
            latency_p99_ms=slos.latency_p99_ms,
            cost_per_request_usd=slos.cost_per_request_usd,
        )
    path = ("rollout", "abort") if source == "abort" else ("slos",)
    period = _period(abort.period, (*path, "period"), problems)
    _datapoints(abort.datapoints_to_alarm, abort.evaluation_periods, (*path, "datapoints_to_alarm"), problems)
    conditions: list[tuple[str, str, str, float | None, str]] = [
        ("error-rate", "error_rate", "ErrorRate", abort.error_rate_pct, "Sum"),
        ("latency-p99", "latency", "Latency", abort.latency_p99_ms, "p99"),
        ("latency-p95", "latency", "Latency", abort.latency_p95_ms, "p95"),
        ("cost-per-request", "cost_per_request", "CostUSD", abort.cost_per_request_usd, "Average"),
    ]
    alarms = []
    for suffix, kind, metric, threshold, statistic in conditions:
        if threshold is None:
            continue
        alarms.append(
            AlarmModel(
                name=f"{source}-{suffix}",
                kind=kind,  # type: ignore[arg-type]
                source=source,  # type: ignore[arg-type]
                metric=metric,
                statistic=statistic,
                comparison="GreaterThanThreshold",
                threshold=threshold,
                period_s=period,
                evaluation_periods=abort.evaluation_periods,
                datapoints_to_alarm=abort.datapoints_to_alarm or abort.evaluation_periods,
                missing_data=abort.missing_data,
                notify=(),
                gates_rollout=True,
                severity="critical",
                description=f"roll back when the new version's {suffix.replace('-', ' ')} exceeds {threshold:g}",
                scope="version",
                low_sample=low_sample_policy(statistic),
            )
        )
    return alarms


def _alert_alarms(spec: AgentSpec, problems: Problems) -> list[AlarmModel]:
    alarms = []
    for name, alert in spec.alerts.items():
        path = ("alerts", name)
        period = _period(alert.window, (*path, "window"), problems)
        _datapoints(alert.datapoints_to_alarm, alert.evaluation_periods, (*path, "datapoints_to_alarm"), problems)
        if alert.statistic is not None and alert.kind != "latency":
            problems.error((*path, "statistic"), f"statistic applies only to latency alerts, not {alert.kind}; remove it")
        targets = [alert.action] if isinstance(alert.action, str) else list(alert.action)
        for target in targets:
            if target not in spec.notifications:
                guess = did_you_mean(target, spec.notifications)
                problems.error((*path, "action"),
                               f"names notification {target!r}, which is not defined under notifications {defined(spec.notifications)}{guess}",
                               reads=("notifications",))
        metric, statistic, comparison = _KINDS[alert.kind]
        threshold = _threshold(spec, name, alert, period, problems)
        alarms.append(
            AlarmModel(
                name=name,
                kind=alert.kind,
                source="alert",
                metric=metric,
                statistic=alert.statistic or statistic,
                comparison=comparison,
                threshold=threshold,
                period_s=period,
                evaluation_periods=alert.evaluation_periods,
                datapoints_to_alarm=alert.datapoints_to_alarm or alert.evaluation_periods,
                missing_data=alert.missing_data,
                notify=tuple(targets),
                gates_rollout=False,
                severity=alert.severity,
                description=alert.description or _describe(alert, threshold),
                scope="service",
                low_sample=low_sample_policy(alert.statistic or statistic),
            )
        )
    return alarms


def _threshold(spec: AgentSpec, name: str, alert: AlertSpec, period: int, problems: Problems) -> float:
    if alert.kind == "error_rate" and alert.threshold > 100:
        problems.error(("alerts", name, "threshold"), f"an error rate is a percentage (0-100), got {alert.threshold:g}")
    if alert.kind == "confidence_drop" and alert.threshold > 1:
        problems.error(("alerts", name, "threshold"), f"a confidence is between 0 and 1, got {alert.threshold:g}")
    if alert.kind != "cost_spike":
        return alert.threshold
    if spec.budget is None:
        problems.error(("alerts", name, "kind"), "a cost_spike threshold is a multiple of the budgeted spend, and there is no "
                                                 "budget; add a top-level budget: {monthly_usd: ...}", reads=("budget",))
        return alert.threshold
    # cost_spike: spend in one period above `threshold` times the budgeted spend for that period
    return round(alert.threshold * spec.budget.monthly_usd * period / SECONDS_PER_MONTH, 10)


def _describe(alert: AlertSpec, threshold: float) -> str:
    units = {"error_rate": "% errors", "latency": " ms", "cost_per_request": " USD per request",
             "cost_spike": " USD spent", "confidence_drop": " mean confidence"}
    word = "below" if alert.kind == "confidence_drop" else "above"
    return f"{alert.kind.replace('_', ' ')}: {word} {threshold:g}{units[alert.kind]} per {alert.window:g}s"


def _datapoints(datapoints: int | None, periods: int, path: tuple[str, ...], problems: Problems) -> None:
    if datapoints is not None and datapoints > periods:
        problems.error(path, f"{datapoints} cannot exceed evaluation_periods ({periods}): an alarm fires when M of the "
                             "last N periods breach, so M <= N")


def _period(seconds: float, path: tuple[str, ...], problems: Problems) -> int:
    if not valid_period(seconds):
        problems.error(path, f"CloudWatch alarm periods are 10s, 30s or a multiple of 60s, got {seconds:g}s")
    return int(seconds)
