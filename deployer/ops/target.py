"""Where an environment's resources are, and what they are called there.

A deployed environment (`target: aws`) is reached through AWS's own endpoints; the local one
(`target: local`) through the running emulator: its moto server (the same boto3 code, another
endpoint), its gateway (the Function URL stand-in) and its control API (what moto cannot hold:
rollout progress, recorded notifications, the log). Names follow the stack: the function and
table come from the compiled model, alarm names carry the stack prefix in AWS (`infra.naming`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.ops.aws import AlarmClient, Endpoint, FunctionClient, LogsClient, RequestTable

if TYPE_CHECKING:
    from deployer.local.front.discovery import EmulatorClient


@dataclass(frozen=True)
class OpsTarget:
    """One environment of one agent, and how to reach it."""

    model: DeploymentModel
    endpoint: Endpoint
    gateway_url: str | None = None  # local only: the emulator's Function URL stand-in
    control_url: str | None = None  # local only: the emulator's control API

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
        try:
            from infra.naming import stack_name
        except ImportError:  # infra/ not in this install: same rule
            raw = re.sub(r"[^A-Za-z0-9-]", "-", f"{self.model.agent}-{self.model.environment}").strip("-")
            return raw if raw[:1].isalpha() else f"a-{raw}"
        return stack_name(self.model)

    def alarm_name(self, alarm: str) -> str:
        """The CloudWatch name of a spec alarm: as is in the emulator, stack-prefixed in AWS."""
        if self.local:
            return alarm
        try:
            from infra.naming import alarm_name
        except ImportError:
            return f"{self.stack_name}-{alarm}"
        return alarm_name(self.model, alarm)

    @property
    def where(self) -> str:
        return "the local emulator" if self.local else f"AWS {self.model.region}"

    # -- clients ------------------------------------------------------------------------------
    def requests(self) -> RequestTable:
        return RequestTable(self.endpoint.client("dynamodb"), self.table_name)

    def function(self) -> FunctionClient:
        return FunctionClient(self.endpoint.client("lambda"), self.function_name)

    def cloudwatch(self) -> AlarmClient:
        return AlarmClient(self.endpoint.client("cloudwatch"))

    def logs(self) -> LogsClient:
        return LogsClient(self.endpoint.client("logs"), self.log_group)

    def client(self, service: str) -> Any:
        return self.endpoint.client(service)

    def emulator(self) -> EmulatorClient | None:
        """The emulator's control API (local only)."""
        if not self.control_url:
            return None
        from deployer.local.front.discovery import EmulatorClient

        return EmulatorClient(self.control_url)


def target_from_endpoints(model: DeploymentModel, endpoints: dict[str, Any]) -> OpsTarget:
    """An `OpsTarget` from a running emulator's endpoints (`Emulator.endpoints()` or its discovery file)."""
    moto = endpoints.get("moto_endpoint")
    if not moto:
        raise DeployerError("the emulator did not advertise its moto endpoint", hint="restart `deployer local up`")
    return OpsTarget(model, Endpoint(region=str(endpoints.get("region") or model.region), url=str(moto), local=True),
                     gateway_url=endpoints.get("gateway_url"), control_url=endpoints.get("control_url"))


def resolve_target(model: DeploymentModel, *, spec_path: str | os.PathLike[str] | None = None,
                   endpoint_url: str | None = None) -> OpsTarget:
    """Find the environment: the running emulator for a local one, AWS (or `endpoint_url`) otherwise."""
    if model.target == "local":
        from deployer.local.front.discovery import find_emulator, state_dir_for

        state_dir = state_dir_for(Path(spec_path) if spec_path else None)
        found = find_emulator(state_dir)
        if found is None:
            raise DeployerError(
                f"no local emulator is running for environment {model.environment!r} (looked in {state_dir})",
                hint="start it with `deployer local up` in another terminal, then deploy with `deployer deploy --env "
                     f"{model.environment}`")
        if (found.get("agent"), found.get("environment")) not in ((model.agent, model.environment), (None, None)):
            raise DeployerError(f"the running emulator serves {found.get('agent')}/{found.get('environment')}, "
                                f"not {model.agent}/{model.environment}",
                                hint="stop it and start `deployer local up` for this spec")
        return target_from_endpoints(model, found)
    url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    return OpsTarget(model, Endpoint(region=model.region, url=url, local=False))


def load_model(spec_path: str | os.PathLike[str], env: str) -> DeploymentModel:
    """Load and compile one environment of a spec (the same path as `deployer plan`)."""
    from deployer.compiler import compile_environment
    from deployer.spec import load_spec

    return compile_environment(load_spec(spec_path), env)
