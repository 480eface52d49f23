"""Lambda: which version an alias serves (the stable version of a Step Functions rollout)."""

from __future__ import annotations

from typing import Any

from deployer.aws.errors import aws_call, error_code


class Functions:
    def __init__(self, client: Any) -> None:
        self.client = client

    def alias_version(self, function: str, alias: str) -> str | None:
        """The version `alias` serves, or None when the function or the alias does not exist yet."""
        try:
            with aws_call("lambda:GetAlias", f"{function}:{alias}"):
                return str(self.client.get_alias(FunctionName=function, Name=alias)["FunctionVersion"])
        except Exception as exc:
            if error_code(exc.__cause__ or exc) == "ResourceNotFoundException":
                return None
            raise
