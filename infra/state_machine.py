"""The Step Functions rollout: any step list (5 -> 50 -> 100) over the `live` alias.

Started after the stack update with `{"stable": "<served version>", "candidate": "<new version>"}`
(JSONata, AWS SDK integrations only). The schedule is the local emulator's rollout engine's:

1. Each step sets the alias weights (`lambda:UpdateAlias`): `percent` on the candidate through
   `AdditionalVersionWeights`, the rest on the stable version; the 100 % step makes the candidate
   the alias's version.
2. The step then holds for its bake, checking the gating alarms (`cloudwatch:DescribeAlarms`)
   every minute: any in ALARM rolls back at once. A step below 100 % also waits for
   `min_requests_per_step` invocations of the candidate (`cloudwatch:GetMetricStatistics` on the
   runtime's EMF metric); if they do not come within 4 x the bake (at least bake + 10 minutes) it
   rolls back rather than promote a version nobody tried.
3. The 100 % step holds for at least the longest gating alarm window plus one period, so an alarm
   on the promoted version still rolls it back.

Rolling back means one thing: the alias serves the stable version alone. Outcomes are published
to the rollout's notification topics.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from deployer.compiled import METRIC_NAMESPACE, RolloutModel
from infra.metrics import INVOCATIONS

CHECK_EVERY_S = 60
HOLD_FACTOR = 4.0
MIN_EXTRA_HOLD_S = 600


def link(states: Sequence[Any]) -> None:
    """Chain states in order (each but the last is an INextable state)."""
    for before, after in itertools.pairwise(states):
        before.next(after)


class StepFunctionsRollout(Construct):
    """A state machine that walks `rollout.steps` over the alias and rolls back on alarm."""

    def __init__(self, scope: Construct, id: str, *, rollout: RolloutModel, name: str, agent: str,
                 environment: str, function: lambda_.IFunction, alias_name: str,
                 gating_alarm_names: Sequence[str], alarms: Sequence[cloudwatch.IAlarm], watch_s: int,
                 notify: Sequence[sns.ITopic], log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        if alarms:
            self.node.add_dependency(*alarms)  # the alarms exist before the first execution reads them
        self._function, self._alias = function, alias_name
        self._alias_resources = [function.function_arn, f"{function.function_arn}:{alias_name}"]
        # Alarm names are fixed (infra.naming.alarm_name): the ARNs are built, not read.
        self._alarm_names = list(gating_alarm_names)
        self._alarm_arns = [cdk.Stack.of(self).format_arn(
            service="cloudwatch", resource="alarm", resource_name=alarm, arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
            for alarm in self._alarm_names]
        self._dimensions = [{"Name": "Agent", "Value": agent}, {"Name": "Environment", "Value": environment},
                            {"Name": "Version", "Value": "{% $candidate %}"}]

        rollback = self._update_alias("Rollback", "{% $stable %}", "{% {} %}")
        failed = sfn.Fail.jsonata(self, "RolledBack", error="RolloutRolledBack", cause="{% $reason %}")
        link([rollback, *self._publish(notify, name, "NotifyRollback", "rolled back"), failed])
        self._on_alarm = sfn.Pass.jsonata(self, "AlarmFired", assign={
            "reason": "{% 'gating alarm(s) in ALARM: ' & $join($alarming, ', ') %}"})
        self._on_alarm.next(rollback)
        self._on_no_traffic = sfn.Pass.jsonata(self, "NotEnoughTraffic", assign={
            "reason": "{% 'only ' & $string($served) & ' requests reached version ' & $candidate "
                      "& '; not promoting an untried version' %}"})
        self._on_no_traffic.next(rollback)

        start = sfn.Pass.jsonata(self, "Start", assign={"stable": "{% $states.input.stable %}",
                                                        "candidate": "{% $states.input.candidate %}",
                                                        "reason": "", "alarming": [], "served": 0})
        previous: Any = start
        self.step_states: list[str] = []
        for index, step in enumerate(rollout.steps):
            final = index == len(rollout.steps) - 1 or step.percent >= 100
            if final:
                shift = self._update_alias(f"Shift{index}", "{% $candidate %}", "{% {} %}")
                hold, needed = max(step.bake_s, watch_s), 0
            else:
                weight = round(step.percent / 100, 4)
                shift = self._update_alias(f"Shift{index}", "{% $stable %}", f"{{% {{$candidate: {weight}}} %}}")
                hold, needed = step.bake_s, rollout.min_requests_per_step
            done = self._hold(index, shift, hold, needed)
            link([previous, shift])
            previous = done
            self.step_states.append(f"Shift{index}")
            if final:
                break
        link([previous, *self._publish(notify, name, "NotifyDone", "completed"), sfn.Succeed.jsonata(self, "Done")])

        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=cdk.RemovalPolicy.DESTROY)
        worst_case = sum(max(s.bake_s * HOLD_FACTOR, s.bake_s + MIN_EXTRA_HOLD_S) for s in rollout.steps) + watch_s
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            state_machine_name=f"{name}-rollout",
            query_language=sfn.QueryLanguage.JSONATA,
            definition_body=sfn.DefinitionBody.from_chainable(start),
            timeout=cdk.Duration.seconds(int(worst_case) + 3600),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment=f"Rollout of {name}: " + " -> ".join(f"{s.percent:g}%" for s in rollout.steps),
        )
        cdk.Validations.of(self.state_machine).acknowledge(cdk.Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason="cloudwatch:GetMetricStatistics, CloudWatch Logs delivery and X-Ray trace writes support no "
                   "resource-level permissions; alias updates and alarm reads are scoped to this stack's ARNs.",
        ))

    def _hold(self, index: int, shift: tasks.CallAwsService, hold_s: int, needed: int) -> sfn.Pass:
        """Wait / check loop of one step; returns the state reached when the step is healthy."""
        interval = max(1, min(CHECK_EVERY_S, hold_s or 1))
        cap_s = int(max(hold_s * HOLD_FACTOR, hold_s + MIN_EXTRA_HOLD_S))
        wait = sfn.Wait.jsonata(self, f"Bake{index}", time=sfn.WaitTime.duration(cdk.Duration.seconds(interval)))
        check = tasks.CallAwsService.jsonata(
            self, f"Check{index}",
            service="cloudwatch", action="describeAlarms", iam_action="cloudwatch:DescribeAlarms",
            iam_resources=self._alarm_arns or ["*"],
            parameters={"AlarmNames": self._alarm_names, "StateValue": "ALARM"},
            assign={"alarming": "{% [$states.result.MetricAlarms.AlarmName] %}"},
        )
        gate = sfn.Choice.jsonata(self, f"Gate{index}")
        healthy = sfn.Pass.jsonata(self, f"Healthy{index}")
        elapsed = "($millis() - $stepStart)"
        gate.when(sfn.Condition.jsonata("{% $count($alarming) > 0 %}"), self._on_alarm)
        gate.when(sfn.Condition.jsonata(f"{{% {elapsed} < {hold_s * 1000} %}}"), wait)
        chain: list[Any] = [wait, check]
        if needed > 0:
            traffic = tasks.CallAwsService.jsonata(
                self, f"Traffic{index}",
                service="cloudwatch", action="getMetricStatistics", iam_action="cloudwatch:GetMetricStatistics",
                iam_resources=["*"],
                parameters={"Namespace": METRIC_NAMESPACE, "MetricName": INVOCATIONS, "Dimensions": self._dimensions,
                            "StartTime": "{% $fromMillis($stepStart - 60000) %}", "EndTime": "{% $now() %}",
                            "Period": 60, "Statistics": ["Sum"]},
                assign={"served": "{% $sum($states.result.Datapoints.Sum) %}"},
            )
            chain.append(traffic)
            gate.when(sfn.Condition.jsonata(f"{{% $served < {needed} and {elapsed} < {cap_s * 1000} %}}"), wait)
            gate.when(sfn.Condition.jsonata(f"{{% $served < {needed} %}}"), self._on_no_traffic)
        gate.otherwise(healthy)
        link([shift, *chain, gate])
        return healthy

    def _update_alias(self, state_id: str, version: str, weights: str) -> tasks.CallAwsService:
        return tasks.CallAwsService.jsonata(
            self, state_id,
            service="lambda", action="updateAlias", iam_action="lambda:UpdateAlias",
            iam_resources=self._alias_resources,
            parameters={"FunctionName": self._function.function_name, "Name": self._alias,
                        "FunctionVersion": version, "RoutingConfig": {"AdditionalVersionWeights": weights}},
            assign={"stepStart": "{% $millis() %}"},
        )

    def _publish(self, topics: Sequence[sns.ITopic], name: str, state_id: str, outcome: str) -> list[tasks.SnsPublish]:
        return [
            tasks.SnsPublish.jsonata(
                self, f"{state_id}{index}", topic=topic, subject=f"{name}: rollout {outcome}",
                message=sfn.TaskInput.from_text(
                    f"{{% 'rollout of version ' & $candidate & ' {outcome} (stable: ' & $stable & ')' "
                    f"& ($reason = '' ? '' : ': ' & $reason) %}}"),
            )
            for index, topic in enumerate(topics)
        ]
