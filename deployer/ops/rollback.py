"""Rollback and alert history against AWS (the emulator does both itself, behind its control API).

`rollback_aws` sends all traffic of the live alias to one version at once: it stops the rollout in
progress first (CodeDeploy `StopDeployment` with auto-rollback, or `StopExecution` of the Step
Functions rollout), then points the alias at the stable (or named) version with no additional
weights. It reads no alarm, so it works while alarms fire, and it never redeploys. Who and why are
written to the request-log table as a `rollback#<env>#<ts>` record (outcome `rollback`).

`alert_history_aws` lists the alarms' recent state changes (CloudWatch alarm history) and the SNS
topics each notified.
"""

from __future__ import annotations

import json
import time
from typing import Any

from deployer.errors import DeployerError
from deployer.ops.aws import aws_call
from deployer.ops.debug import previous_version
from deployer.ops.records import current_user, deploy_records
from deployer.ops.replay import alias_routing
from deployer.ops.rollout import stop_rollout
from deployer.ops.target import OpsTarget
from handlers.records import OUTCOME_INDEX_PARTITION, OUTCOME_INDEX_SORT

ROLLBACK_OUTCOME = "rollback"


def caller(target: OpsTarget) -> str:
    """`<local user> (<AWS caller ARN>)`, or the local user alone when STS does not answer."""
    user = current_user()
    try:
        with aws_call("sts:GetCallerIdentity", "the current credentials"):
            arn = target.client("sts").get_caller_identity().get("Arn")
    except DeployerError:
        return user
    return f"{user} ({arn})" if arn else user


def rollback_aws(target: OpsTarget, *, to: str | None = None, reason: str, who: str | None = None) -> dict[str, Any]:
    """All traffic to the stable (or `to`) version now; stops the rollout in progress; records who and why."""
    if target.local:
        raise DeployerError("rollback_aws is for AWS environments; the emulator rolls back through its control API")
    env = target.environment
    primary, additional = alias_routing(target)
    if primary is None:
        raise DeployerError(f"nothing is deployed in {env!r}: alias {target.model.alias} of {target.function_name} "
                            "does not exist", hint=f"deploy first: `deployer deploy --env {env}`")
    who = who or caller(target)
    warnings: list[str] = []
    try:  # a rollback must not wait on (or fail with) the rollout's bookkeeping
        stopped = stop_rollout(target, f"rollback by {who}: {reason}")
    except DeployerError as exc:
        stopped = None
        if "does not exist" not in exc.message:
            warnings.append(f"could not check for a rollout in progress ({exc.message}); if one is running it may "
                            "shift traffic again: stop it in the CodeDeploy or Step Functions console")
    if to is None:
        if additional:
            to = primary  # a canary in progress: the primary is the stable version
        else:
            to = previous_version(target, primary, deploy_records(target.requests(), env, limit=200))
            if to is None:
                raise DeployerError(f"no previous version to roll back to: version {primary} is the only one deployed "
                                    f"in {env!r}", hint="name a version with --to, or deploy a fixed version")
    function = target.function()
    published = {str(v.get("Version")) for v in function.versions()}
    if to not in published:
        raise DeployerError(f"no version {to} of {target.function_name}; versions: {', '.join(sorted(published, key=_num))}")
    with aws_call("lambda:UpdateAlias", f"alias {target.model.alias} of {target.function_name}"):
        function.client.update_alias(FunctionName=target.function_name, Name=target.model.alias, FunctionVersion=to,
                                     RoutingConfig={"AdditionalVersionWeights": {}})
    now_ms = int(time.time() * 1000)
    record = {"rolled_back": True, "version": to, "previous": primary, "canary": sorted(additional) or None,
              "stopped_rollout": stopped["id"] if stopped else None, "who": who, "reason": reason, "ts": now_ms,
              "warnings": warnings}
    target.requests().put({
        "request_id": {"S": f"{ROLLBACK_OUTCOME}#{env}#{now_ms}"},
        OUTCOME_INDEX_PARTITION: {"S": ROLLBACK_OUTCOME}, OUTCOME_INDEX_SORT: {"N": str(now_ms)},
        "version": {"S": to}, "previous": {"S": primary}, "who": {"S": who}, "reason": {"S": reason or "-"},
        "detail": {"S": json.dumps(record, default=str)},
    })
    return record


def _num(version: str) -> int:
    return int(version) if version.isdigit() else -1


def alert_history_aws(target: OpsTarget, *, limit: int = 50) -> list[dict[str, Any]]:
    """Recent alarm state changes of the environment's alarms, newest first, with the topics notified."""
    cloudwatch = target.cloudwatch()
    names = [target.alarm_name(a.name) for a in target.model.alarms]
    actions = {a["AlarmName"]: a for a in cloudwatch.alarms(names)} if names else {}
    out: list[dict[str, Any]] = []
    for name in names:
        alarm = actions.get(name)
        if alarm is None:
            continue
        try:
            history = cloudwatch.history(name, max_records=min(limit, 100))
        except DeployerError:  # no history API (moto) or no permission: the current state is the latest change
            history = [{"Timestamp": alarm.get("StateUpdatedTimestamp", ""), "HistorySummary": "current state",
                        "HistoryData": json.dumps({"newState": {"stateValue": alarm.get("StateValue"),
                                                                "stateReason": alarm.get("StateReason")}})}]
        for item in history:
            data = _json(item.get("HistoryData"))
            new_state = (data.get("newState") or {}).get("stateValue")
            old_state = (data.get("oldState") or {}).get("stateValue")
            topics = alarm.get("AlarmActions", []) if new_state == "ALARM" else alarm.get("OKActions", [])
            out.append({"at": str(item.get("Timestamp", "")), "alarm": name, "state": new_state,
                        "previous_state": old_state, "subject": item.get("HistorySummary", ""),
                        "reason": (data.get("newState") or {}).get("stateReason"),
                        "targets": [str(t).rsplit(":", 1)[-1] for t in topics if new_state in ("ALARM", "OK")]})
    out.sort(key=lambda r: r["at"], reverse=True)
    return out[:limit]


def _json(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
