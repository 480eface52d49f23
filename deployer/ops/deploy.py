"""Deploy one environment: into the emulator that serves it, or its stack to AWS.

One function for `deployer deploy` and `Pipeline.deploy`. A local environment is deployed through
the emulator's control API (the emulator builds the bundle, publishes a new version when code or
configuration changed and starts the rollout its policy describes); an AWS environment through
`deployer.aws.deploy.deploy_stack` (synth, assets, change set, deploy record, rollout), with the
deploy path's clients at the target's endpoint (AWS, or `AWS_ENDPOINT_URL`). Fault injection
(a rollback drill) is for the emulator only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployer.aws.clients import DEPLOY, AwsClients
from deployer.errors import DeployerError
from deployer.ops.target import OpsTarget

if TYPE_CHECKING:
    from deployer.aws.deploy import DeployResult


@dataclass(frozen=True)
class DeployOutcome:
    """What a deploy did, in the emulator or in AWS."""

    environment: str
    local: bool
    version: str | None
    created: bool
    message: str
    rollout: dict[str, Any] | None = None  # the emulator's rollout; in AWS {"execution", "status", "cause"}
    stack: DeployResult | None = field(default=None, repr=False)  # AWS: the stack deployment

    def not_promoted(self) -> str | None:
        """Why a waited-for rollout did not promote the new version (None: it did, or none ran)."""
        rollout = self.rollout or {}
        if self.local:
            if not self.created or rollout.get("status") in (None, "succeeded"):
                return None
            return (f"the rollout of version {self.version} {rollout.get('status', 'did not finish')}: "
                    f"{rollout.get('reason') or 'no reason recorded'}")
        if rollout.get("status") in (None, "RUNNING", "SUCCEEDED"):
            return None
        return f"the rollout of version {self.version} ended {rollout['status']}: {rollout.get('cause')}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "created": self.created, "message": self.message,
                               "rollout": self.rollout}
        if self.stack is not None:
            out.update(stack=self.stack.stack, stable_version=self.stack.stable_version, outputs=self.stack.outputs)
        return out


def deploy(target: OpsTarget, *, faults: dict[str, Any] | None = None, wait: bool = False, description: str = "",
           out_dir: str | Path = "cdk.out", role_arn: str | None = None, start_rollout: bool = True,
           timeout_s: float = 600.0) -> DeployOutcome:
    """Publish a new version of the environment when its code or configuration changed, and start its rollout."""
    model = target.model
    injected = {name: value for name, value in (faults or {}).items() if value is not None}
    if target.local:
        body = {"model": model.to_dict(), "faults": injected, "wait": wait, "description": description}
        done = dict(target.require_emulator().post("/deploy", body, timeout_s=timeout_s if wait else 120.0))
        return DeployOutcome(model.environment, True, done.get("version"), bool(done.get("created")),
                             str(done.get("message") or ""), done.get("rollout"))
    neutral: dict[str, Any] = {"error_rate": 0.0, "latency_ms": 0.0, "cost_multiplier": 1.0, "confuse": ""}
    if any(value != neutral.get(name) for name, value in injected.items()):
        raise DeployerError(f"fault injection is for the local emulator; {model.environment} targets {model.target}",
                            hint="rehearse a rollback with `deployer deploy --env <local env> --inject-error-rate 0.3`")
    from deployer.aws.deploy import DeployOptions, deploy_stack

    result = deploy_stack(model, clients=AwsClients(target.endpoint.with_policy(DEPLOY)), options=DeployOptions(
        out_dir=Path(out_dir), role_arn=role_arn, start_rollout=start_rollout, wait_rollout=wait))
    rollout = ({"execution": result.rollout_execution, "status": result.rollout_status, "cause": result.rollout_cause}
               if result.rollout_execution else None)
    return DeployOutcome(model.environment, False, result.version, result.status != "unchanged", result.status,
                         rollout, result)
