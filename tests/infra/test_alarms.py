"""Alarms from the compiled SLOs and alerts: version-scoped ones on the EMF metrics of the version
being deployed, service-scoped ones on the metrics of every version."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from deployer.naming import alarm_name
from tests.infra.conftest import Synthesized

VERSION = {"Name": "Version", "Value": {"Fn::GetAtt": [Match.string_like_regexp("CurrentVersion"), "Version"]}}


def dimensions(agent: str, environment: str, scope: str = "version") -> list[Any]:
    service = [{"Name": "Agent", "Value": agent}, {"Name": "Environment", "Value": environment}]
    return [*service, VERSION] if scope == "version" else service


def test_every_alarm_of_every_stack_matches_its_model(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    for name, model in synthesized.models.items():
        template = templates[name]
        failure_alarms = sum(n.kind != "email" for n in model.notifications) + 2  # infra.failed_invocations
        template.resource_count_is("AWS::CloudWatch::Alarm", len(model.alarms) + failure_alarms)
        for alarm in model.alarms:
            expected: dict[str, Any] = {
                "AlarmName": alarm_name(model, alarm.name),
                "ComparisonOperator": alarm.comparison,
                "Threshold": alarm.threshold,
                "EvaluationPeriods": alarm.evaluation_periods,
                "DatapointsToAlarm": alarm.datapoints_to_alarm,
                "TreatMissingData": alarm.missing_data,
            }
            dims = dimensions(model.agent, model.environment, alarm.scope)
            if alarm.kind == "error_rate":
                stat = {"Period": alarm.period_s, "Stat": "Sum"}
                expected["Metrics"] = [
                    {"Expression": "100 * errors / invocations", "Id": Match.any_value(), "Label": "ErrorRate",
                     "ReturnData": True},
                    {"Id": "errors", "ReturnData": False, "MetricStat": {
                        **stat, "Metric": {"Namespace": "Deployer", "MetricName": "Errors", "Dimensions": dims}}},
                    {"Id": "invocations", "ReturnData": False, "MetricStat": {
                        **stat, "Metric": {"Namespace": "Deployer", "MetricName": "Invocations", "Dimensions": dims}}},
                ]
            else:
                expected |= {"Namespace": "Deployer", "MetricName": alarm.metric, "Dimensions": dims,
                             "Period": alarm.period_s}
                if alarm.statistic.startswith("p"):
                    expected |= {"ExtendedStatistic": alarm.statistic, "Statistic": Match.absent(),
                                 "EvaluateLowSampleCountPercentile": alarm.low_sample}
                else:
                    expected |= {"Statistic": alarm.statistic}
            template.has_resource_properties("AWS::CloudWatch::Alarm", expected)


def test_alarms_notify_their_targets_on_alarm_and_on_ok(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    name = synthesized.hand["steps"]
    topic = {"Ref": Match.string_like_regexp("NotificationschatTopic")}
    mail = {"Ref": Match.string_like_regexp("NotificationsmailTopic")}
    templates[name].has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": "steps-agent-staging-confidence-drop",
        "AlarmActions": [topic, mail], "OKActions": [topic, mail],
    })


def test_a_latency_percentile_is_an_extended_statistic(synthesized: Synthesized, templates: dict[str, Any]) -> None:
    templates[synthesized.hand["steps"]].has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "Latency", "ExtendedStatistic": "p99", "Period": 60, "Threshold": 2000,
        "EvaluationPeriods": 3, "DatapointsToAlarm": 2})


def test_service_alarms_page_people_about_every_version_and_version_alarms_gate_the_candidate(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    stack = "support-router-production"
    model = synthesized.models[stack]
    page = model.alarm("error_rate_spike")
    gate = model.alarm("abort-error-rate")
    assert page is not None and gate is not None
    assert (page.scope, page.gates_rollout, page.notify) == ("service", False, ("page_oncall",))
    assert (gate.scope, gate.gates_rollout, gate.notify) == ("version", True, ())
    service = dimensions(model.agent, model.environment, "service")
    templates[stack].has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": alarm_name(model, "error_rate_spike"),
        "AlarmActions": [Match.any_value()],
        "Metrics": Match.array_with([Match.object_like({"MetricStat": Match.object_like({
            "Metric": Match.object_like({"Dimensions": service})})})]),
    })
    templates[stack].has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": alarm_name(model, "abort-error-rate"), "AlarmActions": Match.absent()})
