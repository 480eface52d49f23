"""STS: who the credentials belong to."""

from __future__ import annotations

from typing import Any

from deployer.aws.errors import aws_call


class Identity:
    def __init__(self, client: Any) -> None:
        self.client = client

    def account(self) -> str:
        with aws_call("sts:GetCallerIdentity", "the current credentials",
                      "configure credentials for the target account (AWS_PROFILE)"):
            return str(self.client.get_caller_identity()["Account"])

    def caller_arn(self) -> str | None:
        with aws_call("sts:GetCallerIdentity", "the current credentials"):
            arn = self.client.get_caller_identity().get("Arn")
        return str(arn) if arn else None
