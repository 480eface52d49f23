"""Operations: `status`, `rollback`, `alerts`, against the local emulator and deployed (AWS) environments.

The AWS state (versions, alias weights, alarm states) is read over boto3 from the emulator's moto
endpoint, the same calls that work against AWS with another endpoint. What moto cannot hold
(rollout progress, recorded notifications) and what must happen inside the emulator (a rollback
stops its rollout engine) go through the emulator's control API.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import click

from deployer.commands.options import json_option, spec_option
from deployer.errors import DeployerError


def _local(spec_path: str, env: str) -> tuple[Any, Any]:
    from deployer.compiler import compile_environment
    from deployer.local.front.discovery import require_emulator, state_dir_for
    from deployer.spec import load_spec

    model = compile_environment(load_spec(spec_path), env)
    if model.target != "local":
        raise DeployerError(f"environment {env} targets AWS; this command works against the local emulator so far",
                            hint="use an environment with `target: local`")
    client = require_emulator(state_dir_for(spec_path))
    running = (client.endpoints.get("agent"), client.endpoints.get("environment"))
    if running != (model.agent, model.environment):
        raise DeployerError(f"the running emulator serves {running[0]}/{running[1]}, not {model.agent}/{env}")
    return model, client


def _aws_target(spec_path: str, env: str) -> Any:
    """The `deployer.ops` target of an AWS environment; None for a local one (the emulator path)."""
    from deployer.ops.target import load_model, resolve_target

    model = load_model(spec_path, env)
    return resolve_target(model, spec_path=spec_path) if model.target == "aws" else None


def aws_view(model: Any, endpoint: str | None) -> dict[str, Any]:
    """Versions, alias routing and alarm states, read with boto3 (moto or AWS)."""
    from deployer.local.state.moto_state import client as make_client

    lam = make_client("lambda", endpoint or "", model.region)
    cloudwatch = make_client("cloudwatch", endpoint or "", model.region)
    name = model.function.name
    versions: list[dict[str, Any]] = []
    try:
        paginator = lam.get_paginator("list_versions_by_function")
        for page in paginator.paginate(FunctionName=name):
            versions += [{"version": v["Version"], "description": v.get("Description", ""),
                          "last_modified": v.get("LastModified")} for v in page["Versions"] if v["Version"] != "$LATEST"]
        alias = lam.get_alias(FunctionName=name, Name=model.alias)
        routing = {"primary": alias["FunctionVersion"],
                   "additional": dict((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})}
    except lam.exceptions.ResourceNotFoundException:
        routing = {"primary": None, "additional": {}}
    alarms = cloudwatch.describe_alarms(AlarmNames=[a.name for a in model.alarms])
    states = [{"name": a["AlarmName"], "state": a["StateValue"], "reason": a.get("StateReason", ""),
               "updated": str(a.get("StateUpdatedTimestamp", ""))}
              for a in [*alarms.get("MetricAlarms", []), *alarms.get("CompositeAlarms", [])]]
    return {"function": name, "alias": model.alias, "versions": versions, "routing": routing, "alarms": states}


def _weights(routing: dict[str, Any]) -> str:
    primary, extra = routing.get("primary"), routing.get("additional") or {}
    if primary is None:
        return "nothing deployed"
    share = 1.0 - sum(float(w) for w in extra.values())
    parts = [f"v{primary} {share * 100:g} %"] + [f"v{v} {float(w) * 100:g} %" for v, w in extra.items()]
    return ", ".join(parts)


@click.command()
@spec_option
@click.option("--env", "-e", "env", required=True, help="the environment in agent.yaml")
@json_option
def status(spec_path: str, env: str, as_json: bool) -> None:
    """Versions, alias weights, rollout progress and alarm states of ENV."""
    target = _aws_target(spec_path, env)
    if target is not None:  # a deployed environment: the same view, read from AWS
        from deployer.ops.status import status_aws

        model, view = target.model, status_aws(target)
    else:
        model, client = _local(spec_path, env)
        view = aws_view(model, client.endpoints.get("moto_endpoint"))
        emulator = client.status()
        view["rollout"] = emulator.get("rollout")
        counters = {v["version"]: v for v in emulator.get("versions", [])}
        for v in view["versions"]:
            extra = counters.get(v["version"], {})
            v.update({k: extra.get(k) for k in ("requests", "errors", "faults", "code_hash", "spec_hash")})
        view["stable_version"] = emulator.get("stable_version")
        view["restart_notice"] = emulator.get("restart_notice")
    if as_json:
        click.echo(json.dumps(view, indent=1, default=str))
        return
    click.echo(f"{model.agent} ({env}): function {view['function']}, alias {view['alias']}: {_weights(view['routing'])}")
    if view.get("restart_notice"):
        click.echo(f"note: {view['restart_notice']}")
    click.echo("versions:")
    for v in view["versions"] or [{"version": "-", "description": "none published yet"}]:
        faults = f"  faults {v['faults']}" if v.get("faults") else ""
        served = f"  {v.get('requests') or 0} requests, {v.get('errors') or 0} errors" if v.get("version") != "-" else ""
        click.echo(f"  v{v['version']:<4} {v.get('description', '')[:60]}{served}{faults}")
    rollout = view.get("rollout")
    if rollout and rollout.get("engine") in ("stepfunctions", "codedeploy"):
        click.echo(f"rollout ({rollout['engine']}): {rollout.get('status')}  {rollout.get('id', '')}")
        if rollout.get("error"):
            click.echo(f"  reason: {rollout['error']}")
    elif rollout and "version" in rollout:
        step = rollout.get("step_index", -1)
        where = f"step {step + 1}/{len(rollout.get('steps') or [])} ({rollout.get('percent', 0):g} %)" if step >= 0 else ""
        click.echo(f"rollout of v{rollout['version']} (from v{rollout.get('stable_version')}): {rollout['status']} {where}")
        if rollout.get("reason"):
            click.echo(f"  reason: {rollout['reason']}")
    click.echo("alarms:")
    for a in view["alarms"]:
        click.echo(f"  {a['state']:<17} {a['name']:<22} {a['reason'][:110]}")


@click.command()
@spec_option
@click.option("--env", "-e", "env", required=True, help="the environment in agent.yaml")
@click.option("--to", "to_version", help="the version to send all traffic to (default: the previous stable one)")
@click.option("--reason", default="manual rollback", show_default=True, help="why (recorded)")
@json_option
def rollback(spec_path: str, env: str, to_version: str | None, reason: str, as_json: bool) -> None:
    """Send all traffic of ENV back to the stable version at once, stopping any rollout."""
    target = _aws_target(spec_path, env)
    if target is not None:  # AWS: stop CodeDeploy / Step Functions, move the alias, record who and why
        from deployer.ops.rollback import rollback_aws

        done = rollback_aws(target, to=to_version, reason=reason)
        if as_json:
            click.echo(json.dumps(done, indent=1, default=str))
            return
        if done.get("stopped_rollout"):
            click.echo(f"stopped the rollout in progress ({done['stopped_rollout']})")
        click.echo(f"all traffic on v{done['version']} (was v{done['previous']}); recorded: {done['who']}: {reason}")
        for warning in done.get("warnings") or ():
            click.echo(f"warning: {warning}", err=True)
        return
    _, client = _local(spec_path, env)
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    result = client.rollback(reason=reason, to_version=to_version, who=who)
    if as_json:
        click.echo(json.dumps(result, indent=1, default=str))
        return
    if result.get("stopped_rollout"):
        click.echo(f"stopped the rollout of v{result['stopped_rollout']}; all traffic on v{result['version']}")
    else:
        click.echo(f"all traffic on v{result['version']} (was v{result.get('previous')})")


@click.command()
@spec_option
@click.option("--env", "-e", "env", required=True, help="the environment in agent.yaml")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
def alerts(spec_path: str, env: str, limit: int, as_json: bool) -> None:
    """Recent notifications of ENV (alarm triggers and resolves, rollout outcomes), newest first."""
    target = _aws_target(spec_path, env)
    if target is not None:  # AWS: the alarms' state history and the SNS topics each change notified
        from deployer.ops.rollback import alert_history_aws

        history = alert_history_aws(target, limit=limit)
        if as_json:
            click.echo(json.dumps(history, indent=1, default=str))
            return
        if not history:
            click.echo(f"no alarm state changes recorded for {env}")
            return
        for h in history:
            click.echo(f"{h['at']}  {h['alarm']:<40} {h['previous_state']} -> {h['state']}")
            if h["targets"]:
                click.echo(f"    notified: {', '.join(h['targets'])}")
        return
    _, client = _local(spec_path, env)
    records = client.alerts(limit)
    if as_json:
        click.echo(json.dumps(records, indent=1, default=str))
        return
    if not records:
        click.echo("no notifications yet")
        return
    for r in records:
        delivery = r.get("delivery") or {}
        where = delivery.get("url") or delivery.get("via") or ""
        outcome = "delivered" if delivery.get("delivered") else f"not delivered ({delivery.get('error') or delivery.get('status')})"
        click.echo(f"{r['at']}  {r['target']:<20} {r['subject']}")
        click.echo(f"    {outcome} {where}".rstrip())
