"""CloudFormation: stacks, change sets, waiting and reading outputs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deployer.aws.errors import aws_call, error_code
from deployer.errors import DeployerError

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
NO_CHANGES = ("didn't contain changes", "No updates are to be performed", "submitted information didn't contain")
STACK_OK = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")
STACK_FAILED = ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
                "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "DELETE_COMPLETE", "DELETE_FAILED")


@dataclass(frozen=True)
class Change:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str  # True | False | Conditional | "" (not applicable)

    def __str__(self) -> str:
        mark = {"Add": "+", "Remove": "-", "Modify": "~"}.get(self.action, "?")
        replace = " (replacement)" if self.replacement == "True" else \
            " (may replace)" if self.replacement == "Conditional" else ""
        return f"{mark} {self.resource_type} {self.logical_id}{replace}"


class Stacks:
    def __init__(self, client: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.sleep = sleep

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            with aws_call("cloudformation:DescribeStacks", name):
                stacks = self.client.describe_stacks(StackName=name)["Stacks"]
        except DeployerError as exc:
            if error_code(exc.__cause__) == "ValidationError" and "does not exist" in str(exc):
                return None
            raise
        return dict(stacks[0]) if stacks else None

    def template(self, name: str) -> dict[str, Any]:
        with aws_call("cloudformation:GetTemplate", name):
            body = self.client.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
        if isinstance(body, str):
            import json

            return dict(json.loads(body))
        return dict(body)

    def create_change_set(self, name: str, change_set: str, *, template_url: str, create: bool,
                          parameters: dict[str, str], tags: dict[str, str], role_arn: str | None) -> str:
        kwargs: dict[str, Any] = {
            "StackName": name, "ChangeSetName": change_set, "TemplateURL": template_url,
            "ChangeSetType": "CREATE" if create else "UPDATE", "Capabilities": CAPABILITIES,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            "Description": "deployer deploy",
        }
        if role_arn:
            kwargs["RoleARN"] = role_arn
        with aws_call("cloudformation:CreateChangeSet", name,
                      "check the template with `deployer synth` and your permissions to deploy"):
            return str(self.client.create_change_set(**kwargs)["Id"])

    def wait_change_set(self, name: str, change_set: str, *, timeout_s: float,
                        poll_s: float) -> tuple[bool, list[Change]]:
        """(has changes, changes) once the change set is ready; raise if it failed for a real reason."""
        deadline = time.monotonic() + timeout_s
        while True:
            with aws_call("cloudformation:DescribeChangeSet", f"{name}/{change_set}"):
                described = self.client.describe_change_set(StackName=name, ChangeSetName=change_set)
            status = described.get("Status", "")
            if status == "CREATE_COMPLETE":
                return True, self._changes(name, change_set, described)
            if status == "FAILED":
                reason = described.get("StatusReason", "")
                if any(marker in reason for marker in NO_CHANGES):
                    return False, []
                raise DeployerError(f"the change set for {name} failed: {reason}",
                                    hint="inspect it in the CloudFormation console, fix the cause and deploy again")
            if time.monotonic() > deadline:
                raise DeployerError(f"the change set for {name} is still {status} after {timeout_s:.0f}s")
            self.sleep(poll_s)

    def _changes(self, name: str, change_set: str, described: dict[str, Any]) -> list[Change]:
        found = [self._change(c) for c in described.get("Changes", [])]
        token = described.get("NextToken")
        while token:
            with aws_call("cloudformation:DescribeChangeSet", f"{name}/{change_set}"):
                page = self.client.describe_change_set(StackName=name, ChangeSetName=change_set, NextToken=token)
            found += [self._change(c) for c in page.get("Changes", [])]
            token = page.get("NextToken")
        return found

    @staticmethod
    def _change(raw: dict[str, Any]) -> Change:
        rc = raw.get("ResourceChange", {})
        return Change(str(rc.get("Action", "")), str(rc.get("LogicalResourceId", "")),
                      str(rc.get("ResourceType", "")), str(rc.get("Replacement", "") or ""))

    def delete_change_set(self, name: str, change_set: str) -> None:
        with aws_call("cloudformation:DeleteChangeSet", f"{name}/{change_set}"):
            self.client.delete_change_set(StackName=name, ChangeSetName=change_set)

    def execute_change_set(self, name: str, change_set: str) -> None:
        with aws_call("cloudformation:ExecuteChangeSet", f"{name}/{change_set}"):
            self.client.execute_change_set(StackName=name, ChangeSetName=change_set)

    def wait_stack(self, name: str, *, timeout_s: float, poll_s: float) -> dict[str, Any]:
        """The stack once it reaches a final state; raise with the failed events if it failed."""
        deadline = time.monotonic() + timeout_s
        while True:
            stack = self.describe(name)
            if stack is None:
                raise DeployerError(f"the stack {name} disappeared while deploying")
            status = str(stack["StackStatus"])
            if status in STACK_OK:
                return stack
            if status in STACK_FAILED:
                raise DeployerError(
                    f"the deployment of {name} failed ({status}):\n" + "\n".join(self.failures(name)),
                    hint="fix the first failure above and deploy again")
            if time.monotonic() > deadline:
                raise DeployerError(f"the stack {name} is still {status} after {timeout_s:.0f}s",
                                    hint="CloudFormation keeps going; follow it in the console")
            self.sleep(poll_s)

    def failures(self, name: str, limit: int = 10) -> list[str]:
        with aws_call("cloudformation:DescribeStackEvents", name):
            events = self.client.describe_stack_events(StackName=name).get("StackEvents", [])
        failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("FAILED")]
        lines = [f"  {e.get('LogicalResourceId')} ({e.get('ResourceType')}): {e.get('ResourceStatusReason', '')}"
                 for e in reversed(failed[:limit])]
        return lines or ["  (no failed resource event was recorded)"]

    def physical_ids(self, name: str) -> dict[str, str]:
        """logical id -> physical id of every resource of the stack."""
        found: dict[str, str] = {}
        token: str | None = None
        while True:
            with aws_call("cloudformation:ListStackResources", name):
                page = self.client.list_stack_resources(StackName=name, **({"NextToken": token} if token else {}))
            for item in page.get("StackResourceSummaries", []):
                if item.get("PhysicalResourceId"):
                    found[str(item["LogicalResourceId"])] = str(item["PhysicalResourceId"])
            token = page.get("NextToken")
            if not token:
                return found

    @staticmethod
    def outputs(stack: dict[str, Any]) -> dict[str, str]:
        return {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stack.get("Outputs", [])}
