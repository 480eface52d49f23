"""The runtime's EMF metrics as CloudWatch metric objects (namespace, names, dimensions)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch

from deployer.compiled import METRIC_NAMESPACE, AlarmModel

INVOCATIONS = "Invocations"
ERRORS = "Errors"
LATENCY = "Latency"
COST = "CostUSD"
CONFIDENCE = "ModelConfidence"
ERROR_RATE_EXPRESSION = "100 * errors / invocations"


def version_dimensions(agent: str, environment: str, version: str) -> dict[str, str]:
    return {"Agent": agent, "Environment": environment, "Version": version}


def alarm_metric(alarm: AlarmModel, dimensions: dict[str, str]) -> cloudwatch.IMetric:
    """The metric an alarm watches: metric math for the error rate, the EMF metric otherwise.

    A `pNN` statistic renders as an ExtendedStatistic in the template.
    """
    period = cdk.Duration.seconds(alarm.period_s)
    if alarm.kind == "error_rate":
        return cloudwatch.MathExpression(
            expression=ERROR_RATE_EXPRESSION,
            using_metrics={
                "errors": cloudwatch.Metric(namespace=METRIC_NAMESPACE, metric_name=ERRORS,
                                            dimensions_map=dimensions, statistic="Sum", period=period),
                "invocations": cloudwatch.Metric(namespace=METRIC_NAMESPACE, metric_name=INVOCATIONS,
                                                 dimensions_map=dimensions, statistic="Sum", period=period),
            },
            label="ErrorRate",
            period=period,
        )
    return cloudwatch.Metric(namespace=METRIC_NAMESPACE, metric_name=alarm.metric,
                             dimensions_map=dimensions, statistic=alarm.statistic, period=period)


def search(metric_name: str, statistic: str, agent: str, environment: str, period_s: int = 60) -> str:
    """A SEARCH expression that draws one line per version of the agent in the environment."""
    return (
        f"SEARCH('{{{METRIC_NAMESPACE},Agent,Environment,Version}} MetricName=\"{metric_name}\" "
        f"Agent=\"{agent}\" Environment=\"{environment}\"', '{statistic}', {period_s})"
    )
