"""The agent's Lambda function, its log group, the version and the `live` alias with its URL."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from deployer.compiled import FunctionModel
from deployer.naming import SPEC_HASH_ENV

RUNTIME_HANDLER = "handlers.runtime.handler"


RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS, 150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS, 2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(days: int) -> logs.RetentionDays:
    """The nearest CloudWatch retention at or above `days` (CloudWatch accepts a fixed set)."""
    return next((RETENTION[d] for d in sorted(RETENTION) if d >= days), logs.RetentionDays.TEN_YEARS)


def python_runtime(version: str) -> lambda_.Runtime:
    return lambda_.Runtime(f"python{version}", lambda_.RuntimeFamily.PYTHON)


def acknowledge_pinned_runtime(scope: Construct, version: str) -> None:
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(
        id="AwsSolutions-L1",
        reason=f"The runtime is pinned by agent.yaml (runtime.python: {version}) so that the bundle's "
               "wheels match it; upgrading is a spec change, not an infra default.",
    ))


class AgentFunction(Construct):
    """The function from the bundle, a version per code or config change, and the alias.

    `stable_version` is the version the alias serves before this deployment when a Step Functions
    rollout shifts traffic itself; with CodeDeploy (or on a first deployment) it is None and the
    alias points at the new version (CodeDeploy's UpdatePolicy shifts the traffic).
    """

    def __init__(self, scope: Construct, id: str, *, function: FunctionModel, spec_hash: str,
                 bundle_dir: str, alias_name: str, stable_version: str | None = None,
                 codedeploy: bool) -> None:
        super().__init__(scope, id)
        self.log_group = logs.LogGroup(
            self, "Logs",
            log_group_name=f"/aws/lambda/{function.name}",
            retention=log_retention(function.log_retention_days),
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runtime role of {function.name}: writes its own log group only",
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self, "Function",
            function_name=function.name,
            code=lambda_.Code.from_asset(bundle_dir),
            handler=RUNTIME_HANDLER,
            runtime=python_runtime(function.python),
            architecture=(lambda_.Architecture.ARM_64 if function.architecture == "arm64"
                          else lambda_.Architecture.X86_64),
            memory_size=function.memory_mb,
            timeout=cdk.Duration.seconds(function.timeout_s),
            reserved_concurrent_executions=function.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE if function.tracing else lambda_.Tracing.DISABLED,
            log_group=self.log_group,
            role=self.role,
            environment={**function.environment, SPEC_HASH_ENV: spec_hash},
            description=f"deployer agent {function.name} (spec {spec_hash[:12]})",
            current_version_options=lambda_.VersionOptions(
                description=f"spec {spec_hash[:12]}",
                removal_policy=cdk.RemovalPolicy.RETAIN,  # the previous version serves rollbacks
            ),
        )
        acknowledge_pinned_runtime(self.function, function.python)
        if function.tracing:
            cdk.Validations.of(self.role).acknowledge(cdk.Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level "
                       "permissions; they are the only wildcard statements of this role.",
            ))
        #: The version of this deployment: its logical id hashes the code asset and the
        #: configuration (which carries the spec hash), so either change publishes a new one.
        self.version = self.function.current_version
        served: lambda_.IVersion = self.version
        if stable_version is not None and not codedeploy:
            served = lambda_.Version.from_version_attributes(
                self, "Stable", lambda_=self.function, version=stable_version)
        self.alias = lambda_.Alias(
            self, "Live",
            alias_name=alias_name,
            version=served,
            provisioned_concurrent_executions=function.provisioned_concurrency,
            description="Served version; traffic shifts are driven by the rollout",
        )
        self.url = self.alias.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
