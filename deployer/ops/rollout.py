"""The rollout in progress: read it, stop it.

Locally the emulator's rollout engine holds it (control API `/status`). In AWS it is a CodeDeploy
deployment (canary / linear / all-at-once) or a Step Functions execution (any other step list);
which one, and its name, come from the stack's outputs (`infra.naming`).
"""

from __future__ import annotations

from typing import Any

from deployer.errors import DeployerError
from deployer.ops.aws import aws_call
from deployer.ops.target import OpsTarget

OUTPUT_STATE_MACHINE_ARN = "RolloutStateMachineArn"
OUTPUT_DEPLOYMENT_GROUP = "DeploymentGroupName"
_CODEDEPLOY_ACTIVE = ["Created", "Queued", "InProgress", "Baking", "Ready"]


def stack_outputs(target: OpsTarget) -> dict[str, str]:
    client = target.client("cloudformation")
    with aws_call("cloudformation:DescribeStacks", f"stack {target.stack_name}",
                  f"deploy the environment first: `deployer deploy --env {target.environment}`"):
        stacks = client.describe_stacks(StackName=target.stack_name).get("Stacks", [])
    outputs = stacks[0].get("Outputs", []) if stacks else []
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in outputs}


def rollout_status(target: OpsTarget) -> dict[str, Any] | None:
    """The current or last rollout: engine, status, version, step/percent when known; None if none."""
    if target.local:
        emulator = target.emulator()
        if emulator is None:
            return None
        rollout = emulator.status().get("rollout")
        return {"engine": "emulator", **rollout} if isinstance(rollout, dict) else None
    outputs = stack_outputs(target)
    if OUTPUT_STATE_MACHINE_ARN in outputs:
        return _stepfunctions_status(target, outputs[OUTPUT_STATE_MACHINE_ARN])
    if OUTPUT_DEPLOYMENT_GROUP in outputs:
        return _codedeploy_status(target, outputs[OUTPUT_DEPLOYMENT_GROUP])
    return None


def _stepfunctions_status(target: OpsTarget, arn: str) -> dict[str, Any] | None:
    client = target.client("stepfunctions")
    with aws_call("states:ListExecutions", f"state machine {arn}"):
        executions = client.list_executions(stateMachineArn=arn, maxResults=1).get("executions", [])
    if not executions:
        return None
    latest = executions[0]
    return {"engine": "stepfunctions", "id": latest["executionArn"], "status": str(latest["status"]).lower(),
            "in_progress": latest["status"] == "RUNNING", "started_at": str(latest.get("startDate", "")),
            "finished_at": str(latest.get("stopDate", "") or "") or None}


def _codedeploy_status(target: OpsTarget, group: str) -> dict[str, Any] | None:
    client = target.client("codedeploy")
    application = target.stack_name
    with aws_call("codedeploy:ListDeployments", f"deployment group {group}"):
        ids = client.list_deployments(applicationName=application, deploymentGroupName=group).get("deployments", [])
    if not ids:
        return None
    with aws_call("codedeploy:GetDeployment", f"deployment {ids[0]}"):
        info = client.get_deployment(deploymentId=ids[0])["deploymentInfo"]
    status = str(info.get("status", ""))
    return {"engine": "codedeploy", "id": ids[0], "status": status.lower(), "in_progress": status in _CODEDEPLOY_ACTIVE,
            "started_at": str(info.get("createTime", "")), "finished_at": str(info.get("completeTime", "") or "") or None,
            "error": (info.get("errorInformation") or {}).get("message")}


def stop_rollout(target: OpsTarget, reason: str) -> dict[str, Any] | None:
    """Stop the AWS rollout in progress (CodeDeploy with auto-rollback, or the state machine); None if none."""
    if target.local:
        raise DeployerError("the emulator stops its own rollout on rollback", hint="use the emulator's rollback")
    status = rollout_status(target)
    if status is None or not status.get("in_progress"):
        return None
    if status["engine"] == "stepfunctions":
        with aws_call("states:StopExecution", f"execution {status['id']}"):
            target.client("stepfunctions").stop_execution(executionArn=status["id"], error="ManualRollback",
                                                           cause=reason[:32768])
    else:
        with aws_call("codedeploy:StopDeployment", f"deployment {status['id']}"):
            target.client("codedeploy").stop_deployment(deploymentId=status["id"], autoRollbackEnabled=True)
    return {**status, "stopped": True}
