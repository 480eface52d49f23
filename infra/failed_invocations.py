"""Where failed asynchronous invocations go, and who is told: no page is lost silently.

The notification forwarders (SNS -> Lambda) and the request recorder (CloudWatch Logs
subscription -> Lambda) are invoked asynchronously: once Lambda's retries are spent, an event
would be dropped. Each of them gets explicit retry settings and an on-failure destination, an
SQS queue, plus an alarm on its `Errors`; the queue has an alarm on its first visible message.
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from deployer.compiled import NotificationModel

#: How long a failed invocation stays in the queue for someone to read or redrive (SQS's maximum).
RETENTION = cdk.Duration.days(14)
#: Lambda's own default, written down: two retries, one and two minutes apart.
RETRY_ATTEMPTS = 2
#: A page an hour late is better sent to the queue (whose alarm pages elsewhere) than delivered.
FORWARDER_MAX_EVENT_AGE = cdk.Duration.hours(1)
#: A request record is still worth writing hours later (Lambda's maximum; the write is idempotent).
RECORDER_MAX_EVENT_AGE = cdk.Duration.hours(6)


def failure_recipients(notifications: tuple[NotificationModel, ...], *, failing: str | None = None) -> tuple[str, ...]:
    """The notification targets told that a function delivering `failing` (None: no target) fails.

    A failing forwarder cannot deliver its own page, so it is never told of its own failure. Email
    subscribes to SNS directly, with no forwarder that could fail: every email target when the spec
    has one; otherwise every other target. Empty when there is no other target (a spec with one
    PagerDuty target): the alarm and the queue still hold the failure, but nobody is notified.
    """
    email = tuple(n.name for n in notifications if n.kind == "email")
    return email or tuple(n.name for n in notifications if n.name != failing)


class FailedInvocations(Construct):
    """One on-failure queue per stack, the async settings of each function, and their alarms.

    One queue per stack rather than one per function: it is one place to look and to redrive from,
    and each message names the function that failed (`requestContext.functionArn`) with its error.
    The per-function `Errors` alarms say which one fails; the queue's alarm is the backstop for
    events that no retry delivered (errors, throttles past the event age). The queue is encrypted
    (SQS managed keys: the senders need no KMS grant), keeps messages 14 days and refuses non-TLS
    requests.

    Who is told (`failure_recipients`): the email targets if the spec has any, otherwise every
    target but the failing forwarder's own topic. The recorder and the queue are not a target, so
    their alarms go to the email targets, or to every target. Alarms notify on ALARM and on OK,
    as the spec's alarms do, so a page resolves when the queue is drained.

    `forwarders` maps notification target names to their forwarder functions; `name` prefixes
    the alarm names (the stack name). `alarms` holds the alarms: `forwarder:<target>`,
    `recorder`, `queue`.
    """

    def __init__(self, scope: Construct, id: str, *, name: str, notifications: tuple[NotificationModel, ...],
                 topics: Mapping[str, sns.ITopic], forwarders: Mapping[str, lambda_.IFunction],
                 recorder: lambda_.IFunction) -> None:
        super().__init__(scope, id)
        self.queue = sqs.Queue(
            self, "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            retention_period=RETENTION,
            enforce_ssl=True,
        )
        cdk.Validations.of(self.queue).acknowledge(cdk.Acknowledgment(
            id="AwsSolutions-SQS3",
            reason="This queue is the terminal on-failure destination of asynchronous Lambda invocations: a "
                   "dead-letter queue behind it would only move the failures again; it keeps them 14 days "
                   "and its alarm fires on the first one.",
        ))
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._topics = topics
        self._notifications = notifications
        for target, function in forwarders.items():
            self._watch(function, key=f"forwarder:{target}", alarm_name=f"{name}-{target}-forwarder-errors",
                        description=f"The {target} notification forwarder fails; its notifications go to the "
                                    "failed-invocations queue after two retries",
                        max_event_age=FORWARDER_MAX_EVENT_AGE, failing=target)
        self._watch(recorder, key="recorder", alarm_name=f"{name}-recorder-errors",
                    description="The request recorder fails to write request records; failed batches go to "
                                "the failed-invocations queue after two retries",
                    max_event_age=RECORDER_MAX_EVENT_AGE, failing=None)
        self.alarms["queue"] = self._notify(cloudwatch.Alarm(
            self, "QueueAlarm",
            alarm_name=f"{name}-failed-invocations",
            alarm_description=cdk.Fn.join("", [
                "Asynchronous invocations (notification forwarders, request recorder) failed after every retry; "
                "read them in SQS queue ", self.queue.queue_name]),
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=cdk.Duration.minutes(5), statistic="Maximum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            # SQS stops publishing metrics of a queue idle for six hours: keep the ALARM meanwhile.
            treat_missing_data=cloudwatch.TreatMissingData.IGNORE,
        ), failing=None)

    def _watch(self, function: lambda_.IFunction, *, key: str, alarm_name: str, description: str,
               max_event_age: cdk.Duration, failing: str | None) -> None:
        function.configure_async_invoke(on_failure=destinations.SqsDestination(self.queue),
                                        retry_attempts=RETRY_ATTEMPTS, max_event_age=max_event_age)
        self.alarms[key] = self._notify(cloudwatch.Alarm(
            self, f"{key.replace(':', '-')}-errors",
            alarm_name=alarm_name,
            alarm_description=description,
            metric=function.metric_errors(period=cdk.Duration.minutes(1), statistic="Sum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        ), failing=failing)

    def _notify(self, alarm: cloudwatch.Alarm, *, failing: str | None) -> cloudwatch.Alarm:
        for target in failure_recipients(self._notifications, failing=failing):
            action = actions.SnsAction(self._topics[target])
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
        return alarm
