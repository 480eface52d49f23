"""One stack per agent and environment, composed from the constructs of this package."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from deployer import naming
from deployer.compiled import DeploymentModel
from infra.alarms import VersionAlarms
from infra.dashboard import AgentDashboard
from infra.failed_invocations import FailedInvocations
from infra.function import AgentFunction, log_retention
from infra.metrics import version_dimensions
from infra.notifications import Notifications
from infra.request_log import RequestLog
from infra.rollout import CodeDeployRollout
from infra.secrets import grant_secret_read, is_aws_reference
from infra.state_machine import StepFunctionsRollout

#: Prefixes of Bedrock cross-region inference profile ids (`eu.anthropic...`).
INFERENCE_PROFILE_PREFIXES = ("us", "eu", "apac", "us-gov", "global", "jp", "au", "ca")


class AgentStack(cdk.Stack):
    """Everything one agent needs in one environment; the stack does the wiring and grants.

    `bundle_dir` is the built Lambda bundle (a directory). `stable_version` is the version the
    alias serves before this deployment (Step Functions rollouts only; see `AgentFunction`).
    """

    def __init__(self, scope: Construct, id: str, *, model: DeploymentModel, bundle_dir: str,
                 stable_version: str | None = None,
                 synthesizer: cdk.IStackSynthesizer | None = None) -> None:
        env = cdk.Environment(account=model.account, region=model.region) if model.account else \
            cdk.Environment(region=model.region)
        super().__init__(scope, id, stack_name=naming.stack_name(model), env=env, synthesizer=synthesizer,
                         description=f"deployer: {model.agent} ({model.environment}) - {model.description}"[:1024])
        self.model = model
        name = naming.stack_name(model)
        for key, value in (("deployer:agent", model.agent), ("deployer:environment", model.environment)):
            # The KMS key gets these as stack tags (CloudFormation propagates them): moto 5.2's
            # CloudFormation fails on a KMS key with a Tags property.
            cdk.Tags.of(self).add(key, value, exclude_resource_types=["AWS::KMS::Key"])
        codedeploy = model.rollout.engine == "codedeploy" and model.rollout.codedeploy is not None

        self.function = AgentFunction(
            self, "Agent", function=model.function, spec_hash=model.spec_hash, bundle_dir=bundle_dir,
            alias_name=model.alias, stable_version=stable_version, codedeploy=codedeploy)
        self._grant_model_access(model)
        self.request_log = RequestLog(
            self, "RequestLog", request_log=model.request_log, function=model.function,
            bundle_code=lambda_.Code.from_asset(bundle_dir), source_logs=self.function.log_group)
        self.notifications = Notifications(
            self, "Notifications", notifications=model.notifications,
            log_retention_days=model.function.log_retention_days)
        topics = self.notifications.topics
        self.failed_invocations = FailedInvocations(
            self, "FailedInvocations", name=name, notifications=model.notifications, topics=topics,
            forwarders=self.notifications.forwarders, recorder=self.request_log.recorder)
        self.alarms = VersionAlarms(
            self, "Alarms", alarms=model.alarms,
            dimensions=version_dimensions(model.agent, model.environment, self.function.version.version),
            names={alarm.name: naming.alarm_name(model, alarm.name) for alarm in model.alarms},
            topics=topics)
        gating = self.alarms.gating(model.rollout.gating_alarms)
        notify = [topics[target] for target in model.rollout.notify]
        self.codedeploy: CodeDeployRollout | None = None
        self.stepfunctions: StepFunctionsRollout | None = None
        if codedeploy and model.rollout.codedeploy is not None:
            self.codedeploy = CodeDeployRollout(
                self, "Rollout", config=model.rollout.codedeploy, name=name, alias=self.function.alias,
                alarms=gating, notify=notify)
        else:
            self.stepfunctions = StepFunctionsRollout(
                self, "Rollout", rollout=model.rollout, name=name, agent=model.agent,
                environment=model.environment, function=self.function.function, alias_name=model.alias,
                gating_alarm_names=[naming.alarm_name(model, a) for a in model.rollout.gating_alarms],
                alarms=gating, notify=notify,
                log_retention=log_retention(model.function.log_retention_days))
        if self.stepfunctions is not None and notify:
            # Publishing to an SSE-KMS topic needs the topic key.
            self.notifications.key.grant(self.stepfunctions.state_machine.role, "kms:Decrypt", "kms:GenerateDataKey")
        self.dashboard = AgentDashboard(self, "Dashboard", name=name, agent=model.agent,
                                        environment=model.environment,
                                        alarm_names=[naming.alarm_name(model, a.name) for a in model.alarms])
        self._outputs()

    def _grant_model_access(self, model: DeploymentModel) -> None:
        """The runtime reads its model API key reference and calls Bedrock with its own role."""
        role = self.function.role
        if is_aws_reference(model.model.api_key):
            grant_secret_read(self.function, "ModelApiKey", role, model.model.api_key or "")
        if model.model.provider == "bedrock":
            region = model.model.region or model.region
            model_id = model.model.model_id
            resources = [self.format_arn(service="bedrock", region=region, account="", resource="foundation-model",
                                         resource_name=model_id)]
            prefix, _, base = model_id.partition(".")
            if prefix in INFERENCE_PROFILE_PREFIXES and base:
                # A cross-region inference profile routes to the base model in the regions it spans.
                resources = [
                    self.format_arn(service="bedrock", region=region, resource="inference-profile",
                                    resource_name=model_id),
                    self.format_arn(service="bedrock", region="*", account="", resource="foundation-model",
                                    resource_name=base),
                ]
            role.add_to_policy(iam.PolicyStatement(
                actions=["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"], resources=resources))

    def _outputs(self) -> None:
        outputs: dict[str, str] = {
            naming.OUTPUT_FUNCTION_NAME: self.function.function.function_name,
            naming.OUTPUT_FUNCTION_VERSION: self.function.version.version,
            naming.OUTPUT_ALIAS_ARN: self.function.alias.function_arn,
            naming.OUTPUT_FUNCTION_URL: self.function.url.url,
            naming.OUTPUT_TABLE_NAME: self.request_log.table.table_name,
            naming.OUTPUT_DASHBOARD: self.dashboard.dashboard.dashboard_name,
        }
        if self.stepfunctions is not None:
            outputs[naming.OUTPUT_STATE_MACHINE_ARN] = self.stepfunctions.state_machine.state_machine_arn
        if self.codedeploy is not None:
            outputs[naming.OUTPUT_DEPLOYMENT_GROUP] = self.codedeploy.group.deployment_group_name
        for target, topic in self.notifications.topics.items():
            outputs[naming.OUTPUT_TOPIC_PREFIX + naming.output_key(target)] = topic.topic_arn
        for key, value in outputs.items():
            cdk.CfnOutput(self, key, value=value)
