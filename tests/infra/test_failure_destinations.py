"""Failed asynchronous invocations (forwarders, recorder) land in a queue, and someone who can hear is told."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from deployer.compiled import NotificationModel
from infra.failed_invocations import failure_recipients
from tests.infra.conftest import Synthesized

QUEUE = {"Fn::GetAtt": [Match.string_like_regexp("FailedInvocationsQueue"), "Arn"]}


def topic(target: str) -> dict[str, Any]:
    return {"Ref": Match.string_like_regexp(f"Notifications{target.replace('_', '')}Topic")}


def target(name: str, kind: str) -> NotificationModel:
    return NotificationModel(name=name, kind=kind, endpoint="ssm:/x", routing_key=None,  # type: ignore[arg-type]
                             addresses=(), topic_name=name)


def test_every_stack_has_one_encrypted_tls_only_queue_keeping_failures_14_days(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    for name in synthesized.models:
        template = templates[name]
        template.resource_count_is("AWS::SQS::Queue", 1)
        template.has_resource_properties("AWS::SQS::Queue", {
            "SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600})
        template.has_resource_properties("AWS::SQS::QueuePolicy", {"PolicyDocument": {"Statement": [{
            "Action": "sqs:*", "Effect": "Deny", "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Resource": QUEUE}]}})


def test_every_forwarder_and_the_recorder_send_failed_events_to_the_queue_with_explicit_retries(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    for name, model in synthesized.models.items():
        template = templates[name]
        forwarders = [n.name for n in model.notifications if n.kind != "email"]
        template.resource_count_is("AWS::Lambda::EventInvokeConfig", len(forwarders) + 1)
        for forwarder in forwarders:
            template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {
                "FunctionName": {"Ref": Match.string_like_regexp(f"Notifications{forwarder.replace('_', '')}Forwarder")},
                "Qualifier": "$LATEST", "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600,
                "DestinationConfig": {"OnFailure": {"Destination": QUEUE}}})
        template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {
            "FunctionName": {"Ref": Match.string_like_regexp("RequestLogRecorder")},
            "Qualifier": "$LATEST", "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 6 * 3600,
            "DestinationConfig": {"OnFailure": {"Destination": QUEUE}}})


def test_the_functions_may_send_to_the_failure_queue_and_nothing_else_of_it(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    template = templates[synthesized.hand["steps"]]
    for role in ("NotificationsoncallForwarderRole", "NotificationschatForwarderRole", "RequestLogRecorderRole"):
        template.has_resource_properties("AWS::IAM::Policy", {
            "PolicyName": Match.string_like_regexp(role),
            "PolicyDocument": {"Statement": Match.array_with([{
                "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"], "Effect": "Allow",
                "Resource": QUEUE}])}})


def test_with_an_email_target_every_failure_alarm_notifies_email_only(templates: dict[str, Any],
                                                                       synthesized: Synthesized) -> None:
    template = templates[synthesized.hand["steps"]]
    for alarm in ("oncall-forwarder-errors", "chat-forwarder-errors", "recorder-errors", "failed-invocations"):
        template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "AlarmName": f"steps-agent-staging-{alarm}",
            "AlarmActions": [topic("mail")], "OKActions": [topic("mail")]})


def test_without_email_a_failing_forwarder_is_reported_on_every_other_target_never_its_own(
        templates: dict[str, Any]) -> None:
    template = templates["support-router-staging"]
    for failing, other in (("page_oncall", "slack_notification"), ("slack_notification", "page_oncall")):
        template.has_resource_properties("AWS::CloudWatch::Alarm", {
            "AlarmName": f"support-router-staging-{failing}-forwarder-errors",
            "Namespace": "AWS/Lambda", "MetricName": "Errors", "Statistic": "Sum", "Period": 60,
            "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1,
            "TreatMissingData": "notBreaching",
            "Dimensions": [{"Name": "FunctionName",
                            "Value": {"Ref": Match.string_like_regexp(f"Notifications{failing.replace('_', '')}Forwarder")}}],
            "AlarmActions": [topic(other)], "OKActions": [topic(other)]})
    both = [topic("page_oncall"), topic("slack_notification")]
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": "support-router-staging-recorder-errors", "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": Match.string_like_regexp("RequestLogRecorder")}}],
        "AlarmActions": both, "OKActions": both})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "AlarmName": "support-router-staging-failed-invocations", "AlarmActions": both, "OKActions": both})


def test_the_queue_alarm_fires_on_the_first_message_and_holds_while_sqs_publishes_no_metric(
        synthesized: Synthesized, templates: dict[str, Any]) -> None:
    for name in synthesized.models:
        templates[name].has_resource_properties("AWS::CloudWatch::Alarm", {
            "AlarmName": f"{name}-failed-invocations",
            "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName",
                            "Value": {"Fn::GetAtt": [Match.string_like_regexp("FailedInvocationsQueue"), "QueueName"]}}],
            "Statistic": "Maximum", "Period": 300, "Threshold": 0, "ComparisonOperator": "GreaterThanThreshold",
            "EvaluationPeriods": 1, "TreatMissingData": "ignore"})


def test_recipients_are_the_email_targets_when_there_is_one() -> None:
    targets = (target("pager", "pagerduty"), target("chat", "slack"), target("mail", "email"))
    assert failure_recipients(targets, failing="pager") == ("mail",)
    assert failure_recipients(targets) == ("mail",)


def test_recipients_without_email_are_every_target_but_the_failing_one() -> None:
    targets = (target("pager", "pagerduty"), target("chat", "slack"), target("hook", "webhook"))
    assert failure_recipients(targets, failing="chat") == ("pager", "hook")
    assert failure_recipients(targets) == ("pager", "chat", "hook")


def test_a_lone_pager_has_nobody_to_tell_of_its_own_failure() -> None:
    assert failure_recipients((target("pager", "pagerduty"),), failing="pager") == ()
    assert failure_recipients(()) == ()
