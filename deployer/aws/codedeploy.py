"""CodeDeploy: the deployments of a rollout's deployment group."""

from __future__ import annotations

from typing import Any

from deployer.aws.errors import aws_call


class Deployments:
    def __init__(self, client: Any) -> None:
        self.client = client

    def latest(self, application: str, group: str) -> tuple[str, dict[str, Any]] | None:
        """(id, deploymentInfo) of the group's newest deployment; None when it has none."""
        with aws_call("codedeploy:ListDeployments", f"deployment group {group}"):
            ids = self.client.list_deployments(applicationName=application, deploymentGroupName=group).get(
                "deployments", [])
        if not ids:
            return None
        with aws_call("codedeploy:GetDeployment", f"deployment {ids[0]}"):
            return str(ids[0]), dict(self.client.get_deployment(deploymentId=ids[0])["deploymentInfo"])

    def stop(self, deployment_id: str) -> None:
        """Stop a deployment and let CodeDeploy roll it back."""
        with aws_call("codedeploy:StopDeployment", f"deployment {deployment_id}"):
            self.client.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)
