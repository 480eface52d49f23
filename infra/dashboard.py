"""One CloudWatch dashboard per agent and environment, every graph split per version."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra.metrics import CONFIDENCE, COST, ERRORS, INVOCATIONS, LATENCY, search

WIDTH = 8
HEIGHT = 6


def per_version(title: str, metric_name: str, statistic: str, agent: str, environment: str,
                *, unit_label: str = "") -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title, width=WIDTH, height=HEIGHT,
        left=[cloudwatch.MathExpression(expression=search(metric_name, statistic, agent, environment),
                                        label="", period=cdk.Duration.minutes(1))],
        left_y_axis=cloudwatch.YAxisProps(label=unit_label, show_units=False),
    )


class AgentDashboard(Construct):
    """Invocations, errors, latency p50/p95/p99, cost and confidence of every version."""

    def __init__(self, scope: Construct, id: str, *, name: str, agent: str, environment: str,
                 alarm_names: Sequence[str] = ()) -> None:
        super().__init__(scope, id)
        widgets: list[cloudwatch.IWidget] = [
            per_version("Invocations per version", INVOCATIONS, "Sum", agent, environment),
            per_version("Errors per version", ERRORS, "Sum", agent, environment),
            per_version("Cost per request (USD) per version", COST, "Average", agent, environment,
                        unit_label="USD"),
        ]
        widgets += [
            per_version(f"Latency {p} per version (ms)", LATENCY, p, agent, environment, unit_label="ms")
            for p in ("p50", "p95", "p99")
        ]
        widgets += [
            per_version("Total cost (USD) per version", COST, "Sum", agent, environment, unit_label="USD"),
            per_version("Model confidence per version", CONFIDENCE, "Average", agent, environment),
        ]
        rows: list[list[cloudwatch.IWidget]] = [widgets[i:i + 3] for i in range(0, len(widgets), 3)]
        if alarm_names:
            # ARNs from the fixed alarm names (deployer.naming.alarm_name), not from the alarm resources.
            stack = cdk.Stack.of(self)
            alarms = [cloudwatch.Alarm.from_alarm_arn(self, f"Alarm{index}", stack.format_arn(
                service="cloudwatch", resource="alarm", resource_name=alarm,
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)) for index, alarm in enumerate(alarm_names)]
            rows.insert(0, [cloudwatch.AlarmStatusWidget(title="Alarms (the deployed version)", alarms=alarms,
                                                         width=WIDTH * 3, height=3)])
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard",
            dashboard_name=name,
            default_interval=cdk.Duration.hours(3),
            widgets=rows,
        )
