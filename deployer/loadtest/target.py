"""Where the load goes when `--target` is not given: the deployed Function URL of the environment.

Local environments are served by the emulator, which the command starts itself; an AWS
environment's Function URL (and whether it uses IAM auth) is read with one Lambda API call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError


@dataclass(frozen=True)
class ResolvedTarget:
    url: str
    iam_auth: bool | None  # None: not known


def function_url(model: DeploymentModel, *, lambda_client: Any | None = None) -> ResolvedTarget:
    """The Function URL of the environment's live alias (``GetFunctionUrlConfig``)."""
    client = lambda_client
    if client is None:
        import boto3

        client = boto3.client("lambda", region_name=model.region)
    try:
        config = client.get_function_url_config(FunctionName=model.function.name, Qualifier=model.alias)
    except Exception as exc:  # botocore's ClientError and connection errors alike
        raise DeployerError(
            f"cannot read the Function URL of {model.function.name}:{model.alias} in {model.region}: {exc}",
            hint="deploy the environment first (`deployer deploy --env "
                 f"{model.environment}`) or pass --target URL") from exc
    return ResolvedTarget(url=str(config["FunctionUrl"]), iam_auth=config.get("AuthType") == "AWS_IAM")
