"""Operations on a deployed agent: errors, replay, what changed, logs, deploy records.

The same boto3 code speaks to AWS and to the local emulator; only the endpoint differs
(`deployer.ops.target.resolve_target`). Each AWS service is reached through one small client in
`deployer.ops.aws`, which turns every `ClientError` into a `DeployerError` that names the
operation, the resource and what to do. Library code never prints; `deployer.commands.operate`
renders what these functions return.

- `deployer.ops.records`: the request log (errors, one request, recent requests) and deploy records
- `deployer.ops.replay`: run a recorded input again against a chosen version, marked as a replay
- `deployer.ops.debug`: "what changed" between the live version and the one before it
- `deployer.ops.logs`: the structured request lines (CloudWatch Logs, or the emulator's records)
"""

from __future__ import annotations

from deployer.ops.records import write_deploy_record

__all__ = ["write_deploy_record"]
