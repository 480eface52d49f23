"""Operations on a deployed agent: one function per behaviour, over a target that is the emulator or AWS.

The same boto3 code speaks to AWS and to the local emulator; only the endpoint differs
(`deployer.ops.target`, resolved once by `deployer.environments`). Every AWS call goes through a
typed client of `deployer.aws`, which turns a `ClientError` into a `DeployerError` that names the
operation, the resource and what to do. Library code never prints; `deployer.commands` renders
what these functions return, and `deployer.pipeline` returns it.

- `deployer.ops.deploy`: deploy an environment (into the emulator, or the stack to AWS)
- `deployer.ops.status`: versions, weights, rollout, alarms, requests per version
- `deployer.ops.rollback`, `deployer.ops.alerts`: roll back now; who was notified
- `deployer.ops.requests`: the request log (errors, recent requests, a version's requests, one request)
- `deployer.ops.records`: request and deploy records, decoded and summarised
- `deployer.ops.replay`: run a recorded input again against a chosen version, marked as a replay
- `deployer.ops.debug`: "what changed" between the live version and the one before it
- `deployer.ops.logs`: the structured request lines (CloudWatch Logs, or the emulator's records)
"""

from __future__ import annotations

from deployer.ops.records import write_deploy_record

__all__ = ["write_deploy_record"]
