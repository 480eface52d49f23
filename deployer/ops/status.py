"""`deployer status` for a deployed environment: versions, alias weights, rollout, alarm states.

The emulator answers the same question itself (control API `/status`); this is the AWS side,
read with the same boto3 clients as the other ops commands.
"""

from __future__ import annotations

from typing import Any

from deployer.errors import DeployerError
from deployer.ops.debug import _alarms
from deployer.ops.replay import alias_routing
from deployer.ops.rollout import rollout_status
from deployer.ops.target import OpsTarget


def status_aws(target: OpsTarget) -> dict[str, Any]:
    """The same shape as the emulator's status view: function, alias, versions, routing, rollout, alarms."""
    primary, additional = alias_routing(target)
    versions = [] if primary is None else [
        {"version": str(v.get("Version")), "description": v.get("Description", ""),
         "last_modified": v.get("LastModified")} for v in target.function().versions()]
    try:
        rollout = rollout_status(target) if primary is not None else None
    except DeployerError as exc:
        rollout = {"status": "unknown", "reason": exc.message}
    alarms = [{"name": a["name"], "alarm_name": a["alarm_name"], "state": a["state"], "reason": a["reason"] or "",
               "updated": a["updated_at"]} for a in _alarms(target)]
    return {"function": target.function_name, "alias": target.model.alias, "where": target.where,
            "versions": versions, "routing": {"primary": primary, "additional": additional},
            "stable_version": primary, "rollout": rollout, "alarms": alarms}
