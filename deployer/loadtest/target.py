"""Where the load goes: `--target`, else the environment itself.

One function for `deployer loadtest` and `Pipeline.run_load_test`: a local environment is loaded
through the emulator serving it (`deployer local up`, or an `Emulator` attached to a `Pipeline`),
or, when none runs, through an emulator started for the length of the test; an AWS environment's
Function URL (and whether it uses IAM auth) is read with one Lambda API call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError

if TYPE_CHECKING:
    from deployer.aws.lambda_ import Functions
    from deployer.environments import Environment
    from deployer.ops.target import OpsTarget


@dataclass(frozen=True)
class ResolvedTarget:
    url: str
    iam_auth: bool | None  # None: not known
    ops: OpsTarget | None = None  # the environment behind the URL (None for --target: not known)


def function_url(model: DeploymentModel, *, functions: Functions | None = None) -> ResolvedTarget:
    """The Function URL of the environment's live alias (``GetFunctionUrlConfig``)."""
    if functions is None:
        from deployer.ops.target import aws_target

        functions = aws_target(model).functions
    hint = f"deploy the environment first (`deployer deploy --env {model.environment}`) or pass --target URL"
    try:
        config = functions.url_config(model.function.name, model.alias, hint)
    except DeployerError as exc:
        raise DeployerError(f"cannot read the Function URL of {model.function.name}:{model.alias} in {model.region}: "
                            f"{exc.message}", hint=hint) from exc
    return ResolvedTarget(url=str(config["FunctionUrl"]), iam_auth=config.get("AuthType") == "AWS_IAM")


@contextmanager
def load_target(environment: Environment, target_url: str | None = None) -> Iterator[ResolvedTarget]:
    """The URL to load: `target_url`, else the emulator serving the environment (started for the test
    when none runs), else the deployed Function URL."""
    model = environment.model
    if target_url:
        yield ResolvedTarget(target_url, None)
        return
    if not environment.local:
        ops = environment.target()
        found = function_url(model, functions=ops.functions)
        yield ResolvedTarget(found.url, found.iam_auth, ops)
        return
    running = environment.emulator(required=False)
    if running is not None and running.get("gateway_url"):
        yield ResolvedTarget(str(running["gateway_url"]), False, environment.target())
        return
    from deployer.loadtest.emulated import emulated_target
    from deployer.ops.target import target_from_endpoints

    with emulated_target(model) as emulator:
        yield ResolvedTarget(str(emulator.gateway_url), False, target_from_endpoints(model, emulator.endpoints()))
