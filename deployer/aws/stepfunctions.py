"""Step Functions: start, follow, read and stop a rollout execution."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from deployer.aws.errors import aws_call
from deployer.errors import DeployerError

DONE = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class StateMachines:
    def __init__(self, client: Any) -> None:
        self.client = client

    def start(self, arn: str, name: str, payload: dict[str, Any]) -> str:
        with aws_call("states:StartExecution", arn, "check that the stack deployed the rollout state machine"):
            return str(self.client.start_execution(stateMachineArn=arn, name=name,
                                                   input=json.dumps(payload))["executionArn"])

    def running(self, arn: str) -> list[str]:
        """ARNs of the executions of `arn` still running."""
        with aws_call("states:ListExecutions", arn):
            page = self.client.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=10)
        return [str(e["executionArn"]) for e in page.get("executions", [])]

    def latest(self, arn: str) -> dict[str, Any] | None:
        """The newest execution of `arn` (any status), or None when it never ran."""
        with aws_call("states:ListExecutions", f"state machine {arn}"):
            executions = self.client.list_executions(stateMachineArn=arn, maxResults=1).get("executions", [])
        return dict(executions[0]) if executions else None

    def stop(self, execution_arn: str, *, error: str, cause: str) -> None:
        with aws_call("states:StopExecution", f"execution {execution_arn}"):
            self.client.stop_execution(executionArn=execution_arn, error=error, cause=cause[:32768])

    def wait(self, execution_arn: str, *, timeout_s: float, poll_s: float = 10.0,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            with aws_call("states:DescribeExecution", execution_arn):
                execution: dict[str, Any] = self.client.describe_execution(executionArn=execution_arn)
            if execution["status"] in DONE:
                return execution
            if time.monotonic() > deadline:
                raise DeployerError(f"the rollout {execution_arn} is still {execution['status']} after {timeout_s:.0f}s",
                                    hint="it keeps running; follow it with `deployer status`")
            sleep(poll_s)
