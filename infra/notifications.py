"""SNS topics per notification target, their subscriptions and the chat/paging forwarders.

Topics are encrypted with one customer managed key per stack (CloudWatch alarms cannot publish to
a topic under the AWS managed SNS key) and refuse non-TLS publishers. Email targets subscribe
directly; PagerDuty, Slack and generic webhooks go through a small forwarder Lambda that reads its
URL or routing key from SSM Parameter Store or Secrets Manager at run time, so that no secret
reaches the template.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from deployer.compiled import NotificationModel
from infra.function import log_retention
from infra.secrets import grant_secret_read
from infra.secrets import is_aws_reference as is_reference

FORWARDER_DIR = Path(__file__).parent / "forwarder"
#: Principals that publish to the topics: alarms, EventBridge (CodeDeploy state changes).
PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")


class Notifications(Construct):
    """`topics[name]` per notification target; `forwarders[name]` for the non-email ones."""

    def __init__(self, scope: Construct, id: str, *, notifications: tuple[NotificationModel, ...],
                 log_retention_days: int) -> None:
        super().__init__(scope, id)
        self.key = kms.Key(
            self, "Key",
            description="Encrypts the alarm notification topics",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        for principal in PUBLISHERS:
            self.key.grant(iam.ServicePrincipal(principal), "kms:Decrypt", "kms:GenerateDataKey")
        self.topics: dict[str, sns.Topic] = {}
        self.forwarders: dict[str, lambda_.Function] = {}
        code: lambda_.Code | None = None
        for target in notifications:
            topic = sns.Topic(self, f"{target.name}Topic", topic_name=target.topic_name,
                              display_name=f"deployer {target.name}", master_key=self.key,
                              enforce_ssl=True)
            # A topic policy replaces SNS's default one: let this account's alarms publish.
            topic.add_to_resource_policy(iam.PolicyStatement(
                sid="AllowAlarmsOfThisAccount",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}},
            ))
            self.topics[target.name] = topic
            if target.kind == "email":
                for address in target.addresses or (target.endpoint,):
                    topic.add_subscription(subscriptions.EmailSubscription(address))
                continue
            code = code or lambda_.Code.from_asset(str(FORWARDER_DIR), exclude=["__pycache__", "*.pyc"])
            forwarder = self._forwarder(target, code, log_retention_days)
            topic.add_subscription(subscriptions.LambdaSubscription(forwarder))
            self.forwarders[target.name] = forwarder

    def _forwarder(self, target: NotificationModel, code: lambda_.Code, retention_days: int) -> lambda_.Function:
        env = forwarder_environment(target)
        scope = Construct(self, f"{target.name}Forwarder")
        log_group = logs.LogGroup(scope, "Logs", retention=log_retention(retention_days),
                                  removal_policy=cdk.RemovalPolicy.DESTROY)
        role = iam.Role(scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"Forwards {target.name} notifications; reads its own secret only")
        log_group.grant_write(role)
        for index, ref in enumerate((target.endpoint, target.routing_key)):
            if is_reference(ref):
                grant_secret_read(scope, f"Secret{index}", role, ref or "")
        return lambda_.Function(
            scope, "Function",
            code=code,
            handler="index.handler",
            runtime=lambda_.Runtime.PYTHON_3_14,  # stdlib + boto3 only: always the newest runtime
            memory_size=128,
            timeout=cdk.Duration.seconds(15),
            log_group=log_group,
            role=role,
            environment=env,
            description=f"Forwards alarm notifications of {target.topic_name} to {target.kind}",
        )


def forwarder_environment(target: NotificationModel) -> dict[str, str]:
    """The forwarder's configuration: references to secrets, never their values.

    The compiler refuses, at their line in agent.yaml, the targets that would put a secret or a
    loopback URL into the template (deployer/compiler/notifications.py); this only reads.
    """
    env = {"FORWARD_KIND": target.kind, "FORWARD_TARGET": target.name}
    if target.kind == "pagerduty" and target.routing_key:
        env["FORWARD_ROUTING_KEY_REF"] = target.routing_key
    elif target.kind == "webhook" and target.routing_key:
        env["FORWARD_SECRET_REF"] = target.routing_key  # the webhook's shared secret, sent as a bearer token
    env["FORWARD_URL_REF" if is_reference(target.endpoint) else "FORWARD_URL"] = target.endpoint
    return env
