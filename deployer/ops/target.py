"""Where an environment runs, how to reach it, and what its resources are called there.

A deployed environment (`target: aws`) is reached through AWS's own endpoints; the local one
(`target: local`) through the running emulator: its moto server (the same boto3 code, another
endpoint), its gateway (the Function URL stand-in) and its control API (what moto cannot hold:
rollout progress, recorded notifications, the log). Names follow the stack: the function and
table come from the compiled model, alarm names carry the stack prefix in AWS (`deployer.naming`).

`serving_emulator` is the one check that a running emulator serves the environment asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployer import naming
from deployer.aws.clients import AwsClients, Endpoint
from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError

if TYPE_CHECKING:
    from deployer.aws.dynamodb import RequestTable
    from deployer.aws.lambda_ import Functions
    from deployer.aws.logs import LogGroup
    from deployer.local.front.discovery import EmulatorClient


@dataclass(frozen=True)
class OpsTarget:
    """One environment of one agent, and how to reach it."""

    model: DeploymentModel
    clients: AwsClients
    gateway_url: str | None = None  # local only: the emulator's Function URL stand-in
    control_url: str | None = None  # local only: the emulator's control API

    @property
    def endpoint(self) -> Endpoint:
        return self.clients.endpoint

    @property
    def local(self) -> bool:
        return self.endpoint.local

    @property
    def environment(self) -> str:
        return self.model.environment

    @property
    def function_name(self) -> str:
        return self.model.function.name

    @property
    def table_name(self) -> str:
        return self.model.request_log.table_name

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.model.function.name}"

    @property
    def stack_name(self) -> str:
        return naming.stack_name(self.model)

    def alarm_name(self, alarm: str) -> str:
        """The CloudWatch name of a spec alarm: as is in the emulator, stack-prefixed in AWS."""
        return alarm if self.local else naming.alarm_name(self.model, alarm)

    @property
    def where(self) -> str:
        return "the local emulator" if self.local else f"AWS {self.model.region}"

    # -- the typed clients ----------------------------------------------------------------------
    @property
    def functions(self) -> Functions:
        return self.clients.functions

    def requests(self) -> RequestTable:
        """The request-log table. In the emulator, every request answered so far is in it first
        (its telemetry sink is asynchronous, as Lambda's is): what a command reads is what ran."""
        client = self.emulator()
        if client is not None:
            client.flush()
        return self.clients.request_table(self.table_name)

    def logs(self) -> LogGroup:
        return self.clients.log_group(self.log_group)

    def routing(self) -> tuple[str | None, dict[str, float]]:
        """(primary version, {canary version: weight}) of the live alias; (None, {}) if nothing is deployed."""
        return self.functions.routing(self.function_name, self.model.alias)

    def published_versions(self) -> list[str]:
        """Every published version of the function, oldest first (Lambda, or the emulator's moto)."""
        return self.functions.version_numbers(self.function_name)

    def check_published(self, version: str) -> None:
        """Nothing when `version` is a published version of the function; else say which ones are."""
        published = self.published_versions()
        if str(version) not in published:
            raise DeployerError(f"no version {version} of {self.function_name} in {self.where}; versions: "
                                f"{', '.join(published) or 'none published yet'}",
                                hint=f"`deployer status --env {self.environment}` lists them")

    def emulator(self) -> EmulatorClient | None:
        """The emulator's control API (local only)."""
        if not self.control_url:
            return None
        from deployer.local.front.discovery import EmulatorClient

        return EmulatorClient(self.control_url)

    def require_emulator(self) -> EmulatorClient:
        client = self.emulator()
        if client is None:
            raise DeployerError("the emulator's control API is not known", hint="restart `deployer local up`")
        return client


def target_from_endpoints(model: DeploymentModel, endpoints: dict[str, Any]) -> OpsTarget:
    """An `OpsTarget` from a running emulator's endpoints (`Emulator.endpoints()` or its discovery file)."""
    moto = endpoints.get("moto_endpoint")
    if not moto:
        raise DeployerError("the emulator did not advertise its moto endpoint", hint="restart `deployer local up`")
    endpoint = Endpoint.emulator(str(moto), str(endpoints.get("region") or model.region))
    return OpsTarget(model, AwsClients(endpoint), gateway_url=endpoints.get("gateway_url"),
                     control_url=endpoints.get("control_url"))


def aws_target(model: DeploymentModel, *, endpoint_url: str | None = None) -> OpsTarget:
    """A deployed environment: AWS in its region (`endpoint_url`, else `AWS_ENDPOINT_URL`, stands in)."""
    return OpsTarget(model, AwsClients(Endpoint.aws(model.region, url=endpoint_url)))


def state_dir_of(model: DeploymentModel, spec_path: str | os.PathLike[str] | None = None) -> Path:
    """Where the project's emulator advertises itself (`<spec dir>/.deployer/local`)."""
    from deployer.local.front.discovery import state_dir_for

    return state_dir_for(Path(spec_path) if spec_path else Path(model.spec_file))


def running_emulator(state_dir: Path) -> dict[str, Any] | None:
    """The endpoints of the emulator `deployer local up` runs for a project, or None."""
    from deployer.local.front.discovery import find_emulator

    return find_emulator(state_dir)


def serving_emulator(model: DeploymentModel, found: dict[str, Any] | None, *, required: bool = True,
                     looked_in: Path | None = None) -> dict[str, Any] | None:
    """`found` when that emulator serves `model`'s agent and environment; otherwise say why not.

    None when no emulator runs and none is `required`; an emulator serving another environment
    is always an error (work meant for one environment never lands in another).
    """
    if found is None:
        if not required:
            return None
        where = f" (looked in {looked_in})" if looked_in else ""
        raise DeployerError(
            f"no local emulator is running for environment {model.environment!r}{where}",
            hint="start it with `deployer local up` in another terminal, then deploy with `deployer deploy --env "
                 f"{model.environment}`")
    serves = (found.get("agent"), found.get("environment"))
    if serves not in ((model.agent, model.environment), (None, None)):
        raise DeployerError(f"the running emulator serves {serves[0]}/{serves[1]}, not {model.agent}/{model.environment}",
                            hint=f"stop it and start `deployer local up --env {model.environment}` for this spec")
    return found


def resolve_target(model: DeploymentModel, *, spec_path: str | os.PathLike[str] | None = None,
                   endpoint_url: str | None = None, attached: dict[str, Any] | None = None) -> OpsTarget:
    """Where `model` runs: the attached or running emulator for a local environment, AWS otherwise."""
    if model.target != "local":
        return aws_target(model, endpoint_url=endpoint_url)
    state_dir = state_dir_of(model, spec_path)
    found = attached if attached is not None else running_emulator(state_dir)
    endpoints = serving_emulator(model, found, looked_in=state_dir)
    assert endpoints is not None
    return target_from_endpoints(model, endpoints)
