"""Rollback: all traffic of the live alias to one version at once, in the emulator or in AWS.

One function for both. It checks the request against the published versions (Lambda's
`ListVersionsByFunction`, which the emulator fills too), so that "nothing to go back to" is said
truthfully whatever the deploy records hold; then the emulator rolls back itself (its control
API stops its rollout engine and moves the alias), or, in AWS, the rollout in progress is
stopped (CodeDeploy `StopDeployment` with auto-rollback, or `StopExecution` of the Step Functions
rollout) and the alias is pointed at the version with no additional weights, who and why written
to the request-log table as a `rollback#<env>#<ts>` record (outcome `rollback`). It reads no
alarm, so it works while alarms fire, and it never redeploys. Afterwards the alias is read back
(the emulator does it itself): a rollback that did not take is an error, not a success message.
"""

from __future__ import annotations

import json
import time
from typing import Any

from deployer.errors import DeployerError
from deployer.ops.records import current_user
from deployer.ops.rollout import stop_rollout
from deployer.ops.target import OpsTarget
from deployer.ops.versions import previous_version
from handlers.records import OUTCOME_INDEX_PARTITION, OUTCOME_INDEX_SORT

ROLLBACK_OUTCOME = "rollback"


def caller(target: OpsTarget) -> str:
    """`<local user> (<AWS caller ARN>)`, or the local user alone when STS does not answer."""
    user = current_user()
    try:
        arn = target.clients.identity.caller_arn()
    except DeployerError:
        return user
    return f"{user} ({arn})" if arn else user


def rollback(target: OpsTarget, *, to: str | None = None, reason: str = "manual rollback",
             who: str | None = None) -> dict[str, Any]:
    """All traffic to the stable (or `to`) version now; stops the rollout in progress; records who and why."""
    env = target.environment
    primary, additional = target.routing()
    if primary is None:
        raise DeployerError(f"nothing is deployed in {env!r}: alias {target.model.alias} of {target.function_name} "
                            f"does not exist in {target.where}", hint=f"deploy first: `deployer deploy --env {env}`")
    published = target.published_versions()
    if to is not None:
        target.check_published(to)
    elif not additional and previous_version(published, primary) is None:
        held = (f"version {primary} is the only one deployed in {env!r}" if len(published) <= 1 else
                f"all traffic is already on version {primary}, the oldest of the versions deployed in {env!r} "
                f"({', '.join(published)})")
        raise DeployerError(f"no previous version to roll back to: {held}",
                            hint="name a version with --to, or deploy a fixed version")
    if target.local:  # the emulator stops its rollout engine, moves the alias and confirms it itself
        return target.require_emulator().rollback(reason=reason, to_version=to, who=who or current_user())
    done = _rollback_aws(target, primary, additional, published, to=to, reason=reason, who=who or caller(target))
    serving, extra = target.routing()
    done["serving"] = {"primary": serving, "additional": extra}
    if serving != str(done.get("version")) or extra:
        raise DeployerError(f"the rollback to version {done.get('version')} did not take: the alias "
                            f"{target.model.alias} serves {_weights(serving, extra)}",
                            hint=f"`deployer status --env {env}` shows the rollout and the alarms; try again")
    return done


def _rollback_aws(target: OpsTarget, primary: str, additional: dict[str, float], published: list[str], *,
                  to: str | None, reason: str, who: str) -> dict[str, Any]:
    warnings: list[str] = []
    try:  # a rollback must not wait on (or fail with) the rollout's bookkeeping
        stopped = stop_rollout(target, f"rollback by {who}: {reason}")
    except DeployerError as exc:
        stopped = None
        if "does not exist" not in exc.message:
            warnings.append(f"could not check for a rollout in progress ({exc.message}); if one is running it may "
                            "shift traffic again: stop it in the CodeDeploy or Step Functions console")
    chosen = to or (primary if additional else previous_version(published, primary))
    assert chosen is not None
    target.functions.point_alias(target.function_name, target.model.alias, chosen)
    now_ms = int(time.time() * 1000)
    record = {"rolled_back": True, "version": chosen, "previous": primary, "canary": sorted(additional) or None,
              "stopped_rollout": stopped["id"] if stopped else None, "who": who, "reason": reason, "ts": now_ms,
              "warnings": warnings}
    target.requests().put({
        "request_id": {"S": f"{ROLLBACK_OUTCOME}#{target.environment}#{now_ms}"},
        OUTCOME_INDEX_PARTITION: {"S": ROLLBACK_OUTCOME}, OUTCOME_INDEX_SORT: {"N": str(now_ms)},
        "version": {"S": chosen}, "previous": {"S": primary}, "who": {"S": who}, "reason": {"S": reason or "-"},
        "detail": {"S": json.dumps(record, default=str)},
    })
    return record


def _weights(primary: str | None, additional: dict[str, float]) -> str:
    if primary is None:
        return "nothing"
    share = 1.0 - sum(additional.values())
    return ", ".join([f"v{primary} {share * 100:g} %"] + [f"v{v} {w * 100:g} %" for v, w in additional.items()])
