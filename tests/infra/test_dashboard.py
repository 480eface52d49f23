"""The per-environment dashboard draws every metric per version."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized


def dashboard_body(synthesized: Synthesized, stack: str) -> str:
    template = synthesized.template_json(stack)
    dashboard = next(r for r in template["Resources"].values()  # type: ignore[attr-defined]
                     if r["Type"] == "AWS::CloudWatch::Dashboard")
    body = dashboard["Properties"]["DashboardBody"]
    return body if isinstance(body, str) else "".join(p for p in body["Fn::Join"][1] if isinstance(p, str))


def test_one_dashboard_per_stack_named_after_it(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    for name in synthesized.models:
        templates[name].resource_count_is("AWS::CloudWatch::Dashboard", 1)
        templates[name].has_resource_properties("AWS::CloudWatch::Dashboard", {"DashboardName": name})


def test_dashboard_shows_invocations_errors_latency_cost_and_confidence_per_version(synthesized: Synthesized) -> None:
    body = dashboard_body(synthesized, synthesized.hand["steps"])
    for metric, statistic in [("Invocations", "Sum"), ("Errors", "Sum"), ("Latency", "p50"), ("Latency", "p95"),
                              ("Latency", "p99"), ("CostUSD", "Average"), ("CostUSD", "Sum"),
                              ("ModelConfidence", "Average")]:
        assert f'MetricName=\\"{metric}\\"' in body
        assert f"'{statistic}', 60)" in body
    assert "{Deployer,Agent,Environment,Version}" in body
    assert 'Agent=\\"demo-agent\\"' not in body and 'Agent=\\"steps-agent\\"' in body


def test_dashboard_opens_with_the_state_of_every_alarm(synthesized: Synthesized) -> None:
    name = synthesized.hand["steps"]
    body = dashboard_body(synthesized, name)
    assert '"type":"alarm"' in body
    for alarm in synthesized.models[name].alarms:
        assert f":alarm:{name}-{alarm.name}" in body
