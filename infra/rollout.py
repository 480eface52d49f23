"""The rollout: CodeDeploy for canary/linear/all-at-once, Step Functions for any step list.

CodeDeploy shifts the `live` alias through the alias's UpdatePolicy when CloudFormation publishes
a new version, watches the gating alarms and rolls back on alarm or failure. A step list that
CodeDeploy cannot express (5 -> 50 -> 100) runs as a state machine started after the stack
update with `{"stable": "<served version>", "candidate": "<new version>"}`: per step it sets the
alias weights (lambda:UpdateAlias), waits the bake, reads the gating alarms
(cloudwatch:DescribeAlarms) and on any ALARM puts all traffic back on the stable version.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from deployer.compiled import CodeDeployConfig, RolloutModel
from deployer.errors import DeployerError

MAX_CODEDEPLOY_ALARMS = 10
CODEDEPLOY_STATE_CHANGE = "CodeDeploy Deployment State-change Notification"


def traffic_routing(config: CodeDeployConfig) -> codedeploy.TrafficRouting:
    interval = cdk.Duration.minutes(config.interval_minutes)
    percentage = round(config.percentage)
    if config.kind == "canary":
        return codedeploy.TrafficRouting.time_based_canary(interval=interval, percentage=percentage)
    if config.kind == "linear":
        return codedeploy.TrafficRouting.time_based_linear(interval=interval, percentage=percentage)
    return codedeploy.TrafficRouting.all_at_once()


class CodeDeployRollout(Construct):
    """Application, custom deployment config and deployment group with alarms and auto-rollback."""

    def __init__(self, scope: Construct, id: str, *, config: CodeDeployConfig, name: str,
                 alias: lambda_.Alias, alarms: Sequence[cloudwatch.IAlarm],
                 notify: Sequence[sns.ITopic]) -> None:
        super().__init__(scope, id)
        if len(alarms) > MAX_CODEDEPLOY_ALARMS:
            raise DeployerError(
                f"{name}: CodeDeploy watches at most {MAX_CODEDEPLOY_ALARMS} alarms, the rollout gates on {len(alarms)}",
                hint="set `rollback: false` on the alerts that should only notify")
        self.application = codedeploy.LambdaApplication(self, "Application", application_name=name)
        self.config = codedeploy.LambdaDeploymentConfig(
            self, "Config", deployment_config_name=config.name, traffic_routing=traffic_routing(config))
        self.group = codedeploy.LambdaDeploymentGroup(
            self, "Group",
            application=self.application,
            deployment_group_name=name,
            alias=alias,
            deployment_config=self.config,
            alarms=list(alarms),
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True),
        )
        cdk.Validations.of(self.group).acknowledge(cdk.Acknowledgment(
            id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
               "AWSCodeDeployRoleForLambdaLimited]",
            reason="The AWS-maintained service role policy for CodeDeploy Lambda deployments, already the "
                   "limited variant (alias update, alarm reads, hook invokes named CodeDeployHook_*).",
        ))
        if notify:
            rule = events.Rule(
                self, "StateChanges",
                description=f"CodeDeploy state changes of {name}",
                event_pattern=events.EventPattern(
                    source=["aws.codedeploy"],
                    detail_type=[CODEDEPLOY_STATE_CHANGE],
                    detail={"application": [name], "state": ["FAILURE", "SUCCESS", "STOP"]},
                ),
            )
            for topic in notify:
                rule.add_target(targets.SnsTopic(topic))


class StepFunctionsRollout(Construct):
    """A state machine that walks `rollout.steps` over the alias and rolls back on alarm."""

    def __init__(self, scope: Construct, id: str, *, rollout: RolloutModel, name: str,
                 function: lambda_.IFunction, alias_name: str, gating_alarm_names: Sequence[str],
                 alarms: Sequence[cloudwatch.IAlarm], notify: Sequence[sns.ITopic],
                 log_retention: logs.RetentionDays) -> None:
        super().__init__(scope, id)
        self.node.add_dependency(*alarms)  # the alarms exist before the first execution reads them
        function_name = function.function_name
        alias_resources = [function.function_arn, f"{function.function_arn}:{alias_name}"]
        # Alarm names are fixed (see infra.naming.alarm_name): build the ARNs instead of reading them.
        alarm_names = list(gating_alarm_names)
        alarm_arns = [cdk.Stack.of(self).format_arn(service="cloudwatch", resource="alarm", resource_name=alarm,
                                                    arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
                      for alarm in alarm_names]

        def update_alias(state_id: str, version: str, weights: str) -> tasks.CallAwsService:
            return tasks.CallAwsService.jsonata(
                self, state_id,
                service="lambda", action="updateAlias", iam_action="lambda:UpdateAlias",
                iam_resources=alias_resources,
                parameters={"FunctionName": function_name, "Name": alias_name, "FunctionVersion": version,
                            "RoutingConfig": {"AdditionalVersionWeights": weights}},
            )

        def publish(state_id: str, outcome: str) -> list[tasks.SnsPublish]:
            return [
                tasks.SnsPublish.jsonata(
                    self, f"{state_id}{index}", topic=topic,
                    subject=f"{name}: rollout {outcome}",
                    message=sfn.TaskInput.from_text(
                        f"{{% 'rollout of version ' & $candidate & ' {outcome} (stable: ' & $stable & ')' %}}"),
                )
                for index, topic in enumerate(notify)
            ]

        def link(states: Sequence[Any]) -> None:
            """Chain states in order (each but the last is an INextable state)."""
            for before, after in itertools.pairwise(states):
                before.next(after)

        rollback = update_alias("Rollback", "{% $stable %}", "{% {} %}")
        failed = sfn.Fail.jsonata(self, "RolledBack", error="RolloutAlarm",
                                  cause="a gating alarm was in ALARM; all traffic is back on the stable version")
        link([rollback, *publish("NotifyRollback", "rolled back"), failed])

        start = sfn.Pass.jsonata(self, "Start", assign={"stable": "{% $states.input.stable %}",
                                                        "candidate": "{% $states.input.candidate %}"})
        sequence: list[Any] = [start]
        for index, step in enumerate(rollout.steps):
            if step.percent >= 100:
                break
            weight = round(step.percent / 100, 4)
            shift = update_alias(f"Shift{index}", "{% $stable %}", f"{{% {{$candidate: {weight}}} %}}")
            bake = sfn.Wait.jsonata(self, f"Bake{index}",
                                    time=sfn.WaitTime.duration(cdk.Duration.seconds(max(step.bake_s, 1))))
            check = tasks.CallAwsService.jsonata(
                self, f"Check{index}",
                service="cloudwatch", action="describeAlarms", iam_action="cloudwatch:DescribeAlarms",
                iam_resources=alarm_arns or ["*"],
                parameters={"AlarmNames": alarm_names, "StateValue": "ALARM"},
                outputs={"alarming": "{% $count($states.result.MetricAlarms) %}"},
            )
            healthy = sfn.Pass.jsonata(self, f"Healthy{index}")
            gate = sfn.Choice.jsonata(self, f"Gate{index}")
            gate.when(sfn.Condition.jsonata("{% $states.input.alarming > 0 %}"), rollback)
            gate.otherwise(healthy)
            link([sequence[-1], shift, bake, check, gate])
            sequence = [healthy]
        promote = update_alias("Promote", "{% $candidate %}", "{% {} %}")
        link([sequence[-1], promote, *publish("NotifyDone", "completed"), sfn.Succeed.jsonata(self, "Done")])

        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention,
                                       removal_policy=cdk.RemovalPolicy.DESTROY)
        self.state_machine = sfn.StateMachine(
            self, "StateMachine",
            state_machine_name=f"{name}-rollout",
            query_language=sfn.QueryLanguage.JSONATA,
            definition_body=sfn.DefinitionBody.from_chainable(start),
            timeout=cdk.Duration.seconds(rollout.total_bake_s + 3600),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            comment=f"Rollout of {name}: " + " -> ".join(f"{s.percent:g}%" for s in rollout.steps),
        )
        cdk.Validations.of(self.state_machine).acknowledge(cdk.Acknowledgment(
            id="AwsSolutions-IAM5[Resource::*]",
            reason="CloudWatch Logs delivery (logs:*LogDelivery*, DescribeLogGroups...) and X-Ray trace "
                   "writes support no resource-level permissions; all AWS SDK calls are scoped.",
        ))
