"""`deployer status`, `rollback` and `alerts`: the same against the local emulator and AWS.

Each command resolves the environment (`deployer.environments`), calls one function of
`deployer.ops` and renders what it returns; `--json` prints it as is.
"""

from __future__ import annotations

import json
from typing import Any

import click

from deployer.commands.options import env_option, json_option, spec_option


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=1, default=str))


def _weights(routing: dict[str, Any]) -> str:
    primary, extra = routing.get("primary"), routing.get("additional") or {}
    if primary is None:
        return "nothing deployed"
    share = 1.0 - sum(float(w) for w in extra.values())
    parts = [f"v{primary} {share * 100:g} %"] + [f"v{v} {float(w) * 100:g} %" for v, w in extra.items()]
    return ", ".join(parts)


def _from(version: Any) -> str:
    return f"from v{version}" if version else "the first version"


@click.command()
@spec_option
@env_option()
@json_option
def status(spec_path: str, env: str, as_json: bool) -> None:
    """Versions, alias weights, rollout progress and alarm states of ENV.

    Requests and errors per version are counted from the request records of the last 24 hours
    (the newest 500 of each version), the same records `deployer debug` compares.

    \b
    Exit codes: 0 shown; 1 a problem the message explains (no emulator running for a local
    environment, an AWS error); 2 a usage error.
    """
    from deployer.environments import resolve_environment
    from deployer.ops.status import status as read_status

    view = read_status(resolve_environment(spec_path, env).target())
    if as_json:
        _echo_json(view)
        return
    click.echo(f"{view['agent']} ({env}): function {view['function']}, alias {view['alias']}: "
               f"{_weights(view['routing'])}")
    if view.get("restart_notice"):
        click.echo(f"note: {view['restart_notice']}")
    click.echo("versions:")
    for v in view["versions"] or [{"version": "-", "description": "none published yet"}]:
        faults = f"  faults {v['faults']}" if v.get("faults") else ""
        counted = v.get("requests") is not None
        more = "+" if v.get("sampled") else ""
        served = f"  {v['requests']}{more} requests, {v['errors']} errors" if counted else ""
        click.echo(f"  v{v['version']:<4} {v.get('description', '')[:60]}{served}{faults}")
    rollout = view.get("rollout")
    if rollout and rollout.get("engine") in ("stepfunctions", "codedeploy"):
        click.echo(f"rollout ({rollout['engine']}): {rollout.get('status')}  {rollout.get('id', '')}")
        if rollout.get("error"):
            click.echo(f"  reason: {rollout['error']}")
    elif rollout and "version" in rollout:
        step = rollout.get("step_index", -1)
        where = f"step {step + 1}/{len(rollout.get('steps') or [])} ({rollout.get('percent', 0):g} %)" if step >= 0 else ""
        click.echo(f"rollout of v{rollout['version']} ({_from(rollout.get('stable_version'))}): "
                   f"{rollout['status']} {where}".rstrip())
        if rollout.get("reason"):
            click.echo(f"  reason: {rollout['reason']}")
    elif rollout and rollout.get("status") == "unknown":
        click.echo(f"rollout: unknown ({rollout.get('reason')})")
    click.echo("alarms:")
    for a in view["alarms"]:
        click.echo(f"  {a['state']:<17} {a['name']:<22} {(a['reason'] or '')[:110]}")
    for p in view.get("problems") or []:
        click.echo(f"problem: {p.get('what')} failing since {p.get('since')} ({p.get('failures')} failures): "
                   f"{str(p.get('error'))[:160]}; the emulator retries (events.log has each attempt)")
    kept = view.get("request_log") or {}
    lost = {k: kept[k] for k in ("quarantined", "dropped", "journal_lost") if kept.get(k)}
    if lost:
        click.echo("request log: " + ", ".join(f"{n} {k}" for k, n in lost.items())
                   + " (`deployer replay <id> --env local` says why one is missing)")


@click.command()
@spec_option
@env_option()
@click.option("--to", "to_version", help="the version to send all traffic to (default: the previous stable one)")
@click.option("--reason", default="manual rollback", show_default=True, help="why (recorded)")
@json_option
def rollback(spec_path: str, env: str, to_version: str | None, reason: str, as_json: bool) -> None:
    """Send all traffic of ENV back to the stable version at once, stopping any rollout.

    \b
    Exit codes: 0 all traffic is on the version named; 1 nothing to roll back to, no such
    version, a rollback that did not take (the alias is read back), or another problem the
    message explains; 2 a usage error.
    """
    from deployer.environments import resolve_environment
    from deployer.ops.rollback import rollback as roll_back

    done = roll_back(resolve_environment(spec_path, env).target(), to=to_version, reason=reason)
    if as_json:
        _echo_json(done)
        return
    stopped = done.get("stopped_rollout")
    if stopped:
        click.echo(f"stopped the rollout in progress ({f'of v{stopped}' if str(stopped).isdigit() else stopped})")
    was = f" (was v{done['previous']})" if done.get("previous") else ""
    recorded = f"; recorded: {done['who']}: {reason}" if done.get("who") else ""
    click.echo(f"all traffic on v{done['version']}{was}{recorded}")
    for warning in done.get("warnings") or ():
        click.echo(f"warning: {warning}", err=True)


@click.command()
@spec_option
@env_option()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@json_option
def alerts(spec_path: str, env: str, limit: int, as_json: bool) -> None:
    """Recent notifications of ENV (alarm triggers and resolves, rollout outcomes), newest first.

    \b
    Exit codes: 0 shown (also when there are none); 1 a problem the message explains (no
    emulator running for a local environment, an AWS error); 2 a usage error.
    """
    from deployer.environments import resolve_environment
    from deployer.ops.alerts import alerts as recent_alerts

    target = resolve_environment(spec_path, env).target()
    records = recent_alerts(target, limit=limit)
    if as_json:
        _echo_json(records)
        return
    if not records:
        click.echo("no notifications yet" if target.local else f"no alarm state changes recorded for {env}")
        return
    for r in records:
        if "alarm" in r and "targets" in r:  # AWS: an alarm state change and the topics it notified
            click.echo(f"{r['at']}  {r['alarm']:<40} {r['previous_state']} -> {r['state']}")
            if r["targets"]:
                click.echo(f"    notified: {', '.join(r['targets'])}")
            continue
        delivery = r.get("delivery") or {}
        where = delivery.get("url") or delivery.get("via") or ""
        outcome = "delivered" if delivery.get("delivered") else f"not delivered ({delivery.get('error') or delivery.get('status')})"
        click.echo(f"{r['at']}  {r['target']:<20} {r['subject']}")
        click.echo(f"    {outcome} {where}".rstrip())
