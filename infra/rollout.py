"""The CodeDeploy rollout for canary, linear and all-at-once policies.

CodeDeploy shifts the `live` alias through the alias's UpdatePolicy when CloudFormation publishes
a new version, watches the gating alarms and rolls back on alarm, failure or stop. Step lists that
CodeDeploy cannot express run as a state machine: `infra.state_machine`.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from deployer.compiled import CodeDeployConfig

CODEDEPLOY_STATE_CHANGE = "CodeDeploy Deployment State-change Notification"


def traffic_routing(config: CodeDeployConfig) -> codedeploy.TrafficRouting:
    """CodeDeploy's traffic routing, exactly as compiled (whole percents: the compiler never hands
    CodeDeploy a schedule it would have to round)."""
    interval = cdk.Duration.minutes(config.interval_minutes)
    if config.kind == "canary":
        return codedeploy.TrafficRouting.time_based_canary(interval=interval, percentage=config.percentage)
    if config.kind == "linear":
        return codedeploy.TrafficRouting.time_based_linear(interval=interval, percentage=config.percentage)
    return codedeploy.TrafficRouting.all_at_once()


class CodeDeployRollout(Construct):
    """Application, custom deployment config and deployment group with alarms and auto-rollback."""

    def __init__(self, scope: Construct, id: str, *, config: CodeDeployConfig, name: str,
                 alias: lambda_.Alias, alarms: Sequence[cloudwatch.IAlarm],
                 notify: Sequence[sns.ITopic]) -> None:
        super().__init__(scope, id)
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
