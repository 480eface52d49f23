"""Read access to secret references (`ssm:/path`, `secretsmanager:name`) for one role.

A reference names a secret; its value is read at run time by whoever holds the role and never
reaches a template. `env:NAME` references need no grant.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

AWS_PREFIXES = ("ssm:", "secretsmanager:")


def is_aws_reference(value: str | None) -> bool:
    return value is not None and value.startswith(AWS_PREFIXES)


def grant_secret_read(scope: Construct, id: str, role: iam.Role, ref: str) -> None:
    """Let `role` read exactly the secret `ref` names (SecureString parameters included)."""
    kind, _, name = ref.partition(":")
    if kind == "ssm":
        parameter_arn = cdk.Stack.of(scope).format_arn(
            service="ssm", resource="parameter", resource_name=name.lstrip("/"))
        role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[parameter_arn]))
        return
    if kind != "secretsmanager":
        return
    secretsmanager.Secret.from_secret_name_v2(scope, id, name).grant_read(role)
    cdk.Validations.of(role).acknowledge(cdk.Acknowledgment(
        id="AwsSolutions-IAM5",
        reason="Secrets Manager appends a random 6-character suffix to secret ARNs; the grant names one "
               "secret (arn ...:secret:<name>-??????) and nothing else.",
    ))
