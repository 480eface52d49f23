"""The rollout in progress: read it, stop it.

Locally the emulator's rollout engine holds it (control API `/status`). In AWS it is a CodeDeploy
deployment (canary / linear / all-at-once) or a Step Functions execution (any other step list);
which one, and its name, come from the stack's outputs (`deployer.naming`).
"""

from __future__ import annotations

from typing import Any

from deployer import naming
from deployer.errors import DeployerError
from deployer.ops.target import OpsTarget

_CODEDEPLOY_ACTIVE = ["Created", "Queued", "InProgress", "Baking", "Ready"]


def stack_outputs(target: OpsTarget) -> dict[str, str]:
    stack = target.clients.stacks.describe(target.stack_name)
    if stack is None:
        raise DeployerError(f"the stack {target.stack_name} does not exist in {target.where}",
                            hint=f"deploy the environment first: `deployer deploy --env {target.environment}`")
    return target.clients.stacks.outputs(stack)


def rollout_status(target: OpsTarget, *, emulator_status: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The current or last rollout: engine, status, version, step/percent when known; None if none.

    `emulator_status`: the emulator's `/status`, when the caller has read it already.
    """
    if target.local:
        if emulator_status is None:
            emulator = target.emulator()
            if emulator is None:
                return None
            emulator_status = emulator.status()
        rollout = emulator_status.get("rollout")
        return {"engine": "emulator", **rollout} if isinstance(rollout, dict) else None
    outputs = stack_outputs(target)
    if naming.OUTPUT_STATE_MACHINE_ARN in outputs:
        return _stepfunctions_status(target, outputs[naming.OUTPUT_STATE_MACHINE_ARN])
    if naming.OUTPUT_DEPLOYMENT_GROUP in outputs:
        return _codedeploy_status(target, outputs[naming.OUTPUT_DEPLOYMENT_GROUP])
    return None


def _stepfunctions_status(target: OpsTarget, arn: str) -> dict[str, Any] | None:
    latest = target.clients.state_machines.latest(arn)
    if latest is None:
        return None
    return {"engine": "stepfunctions", "id": latest["executionArn"], "status": str(latest["status"]).lower(),
            "in_progress": latest["status"] == "RUNNING", "started_at": str(latest.get("startDate", "")),
            "finished_at": str(latest.get("stopDate", "") or "") or None}


def _codedeploy_status(target: OpsTarget, group: str) -> dict[str, Any] | None:
    found = target.clients.deployments.latest(target.stack_name, group)
    if found is None:
        return None
    deployment_id, info = found
    status = str(info.get("status", ""))
    return {"engine": "codedeploy", "id": deployment_id, "status": status.lower(),
            "in_progress": status in _CODEDEPLOY_ACTIVE, "started_at": str(info.get("createTime", "")),
            "finished_at": str(info.get("completeTime", "") or "") or None,
            "error": (info.get("errorInformation") or {}).get("message")}


def stop_rollout(target: OpsTarget, reason: str) -> dict[str, Any] | None:
    """Stop the AWS rollout in progress (CodeDeploy with auto-rollback, or the state machine); None if none."""
    if target.local:
        raise DeployerError("the emulator stops its own rollout on rollback", hint="use the emulator's rollback")
    status = rollout_status(target)
    if status is None or not status.get("in_progress"):
        return None
    if status["engine"] == "stepfunctions":
        target.clients.state_machines.stop(status["id"], error="ManualRollback", cause=reason)
    else:
        target.clients.deployments.stop(status["id"])
    return {**status, "stopped": True}
