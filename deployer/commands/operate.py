"""`deployer errors`, `replay`, `debug` and `logs`: incident response, the same against AWS and the emulator.

Each command resolves the environment (`deployer.environments`), calls one function of
`deployer.ops` and renders what it returns: a table for people, `--json` for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from deployer.commands.options import env_option, json_option, spec_option

if TYPE_CHECKING:
    from rich.console import Console

    from deployer.ops.records import RequestRecord
    from deployer.ops.replay import ReplayResult
    from deployer.ops.target import OpsTarget


def _target(spec_path: str, env: str) -> OpsTarget:
    from deployer.environments import resolve_environment

    return resolve_environment(spec_path, env).target()


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _usd(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.2e}" if 0 < abs(value) < 0.0001 else f"${value:.6f}"


def _window(since: str | None, ttl_days: int) -> str:
    return f"the last {since}" if since else f"the last {ttl_days} days of records"


# -- errors ----------------------------------------------------------------------------------------
@click.command()
@spec_option
@env_option()
@click.option("--limit", "-n", default=100, show_default=True, type=click.IntRange(min=1, max=10_000),
              help="at most this many failures")
@click.option("--since", help="only this recent, e.g. 15m, 1h, 2d  [default: all records kept]")
@click.option("--version", "version", help="only failures served by this version")
@click.option("--replays", is_flag=True, help="include failed replays")
@json_option
def errors(spec_path: str, env: str, limit: int, since: str | None, version: str | None, replays: bool,
           as_json: bool) -> None:
    """The last failed requests, newest first: id, time, version, action, error, latency, input.

    \b
    Exit codes: 0 listed (also when there are none); 1 a problem the message explains (no
    emulator running for a local environment, an AWS error); 2 a usage error.
    """
    from deployer.ops.records import parse_since
    from deployer.ops.requests import list_errors, log_begins

    since_s = parse_since(since)
    target = _target(spec_path, env)
    ttl = target.model.request_log.ttl_days
    found = list_errors(target, since_s=since_s, version=version, limit=limit, include_replays=replays)
    if as_json:
        _echo_json({"environment": env, "count": len(found), "errors": [r.to_dict() for r in found]})
        return
    console = _console()
    scope = f" served by version {version}" if version else ""
    if not found:
        empty = "; no request has been recorded in it yet" if log_begins(target) is None else ""
        console.print(f"no failed requests{scope} in {env!r} in {_window(since, ttl)}{empty}")
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} failed request{'s' if len(found) != 1 else ''}{scope} in {env!r}, newest first",
                  title_justify="left")
    for column in ("time (UTC)", "request id", "ver", "action", "status", "error", "latency ms", "input"):
        table.add_column(column, overflow="fold" if column in ("request id", "error") else "ellipsis",
                         justify="right" if column in ("ver", "status", "latency ms") else "left")
    for r in found:
        error = f"{r.error_type or '-'}: {r.error_message or ''}".rstrip(": ")
        table.add_row(r.to_dict()["time"][:23].replace("T", " "), r.request_id, r.version, r.action, str(r.status),
                      _short(error, 70), _ms(r.latency_ms), _short(r.input, 50) if r.has_input else "(not kept)")
    console.print(table)
    console.print(f"replay one: deployer replay <request id> --env {env}    all of them: "
                  f"deployer replay --last {len(found)} --errors --env {env}")


# -- replay ----------------------------------------------------------------------------------------
@click.command()
@click.argument("request_id", required=False)
@spec_option
@env_option()
@click.option("--version", "version", help="replay against this version")
@click.option("--against", type=click.Choice(["stable", "canary"]),
              help="replay against the alias's stable or canary version  [default: stable]")
@click.option("--last", type=click.IntRange(min=1, max=1000), help="replay the last N recorded requests instead")
@click.option("--errors", "errors_only", is_flag=True, help="with --last: only failed requests")
@click.option("--since", help="with --last: only this recent, e.g. 1h")
@click.option("--allow-side-effects", is_flag=True, help="replay actions marked side_effects: true")
@json_option
def replay(request_id: str | None, spec_path: str, env: str, version: str | None, against: str | None,
           last: int | None, errors_only: bool, since: str | None, allow_side_effects: bool, as_json: bool) -> None:
    """Run a recorded request's input again against a chosen version and compare old and new.

    Replays are marked (`x-deployer-replay: 1`): their metrics go to the replay namespace and never
    count against a canary's alarms.

    \b
    Exit codes: 0 replayed (whatever the replay answered); 1 no such request or version, or
    another problem the message explains; 2 a usage error (a malformed request id, REQUEST_ID
    together with --last).
    """
    from deployer.errors import DeployerError
    from deployer.ops.records import parse_since
    from deployer.ops.replay import replay_batch, replay_request
    from deployer.ops.requests import check_request_id

    if (request_id is None) == (last is None):
        raise DeployerError("give a REQUEST_ID or --last N (not both)",
                            hint=f"find ids with `deployer errors --env {env}`")
    if errors_only and last is None:
        raise DeployerError("--errors goes with --last N")
    if request_id is not None:
        check_request_id(request_id, env=env)
    target = _target(spec_path, env)
    choice: Any = against
    if request_id is not None:
        result = replay_request(target, request_id, version=version, against=choice,
                                allow_side_effects=allow_side_effects)
        if as_json:
            _echo_json(result.to_dict())
            return
        _print_replay(_console(), result)
        return
    assert last is not None
    batch = replay_batch(target, last, errors_only=errors_only, version=version, against=choice,
                         allow_side_effects=allow_side_effects, since_s=parse_since(since))
    if as_json:
        _echo_json(batch.to_dict())
        return
    console = _console()
    summary = batch.summary()
    if not batch.results and not batch.skipped:
        kind = "failed requests" if errors_only else "requests"
        console.print(f"no recorded {kind} to replay in {env!r}"
                      + (f" in the last {since}" if since else ""))
        return
    from rich.table import Table

    table = Table(title=f"replayed against version {batch.version}", title_justify="left")
    for column in ("request id", "action", "was", "now", "latency ms (was → now)", "changed"):
        table.add_column(column, overflow="fold" if column == "request id" else "ellipsis")
    for r in batch.results:
        table.add_row(r.original.request_id, r.original.action, _outcome(r.original.status, r.original.version),
                      _outcome(r.new.status, r.new.version), f"{_ms(r.original.latency_ms)} → {_ms(r.new.latency_ms)}",
                      _changed(r.changed))
    console.print(table)
    for skipped in batch.skipped:
        console.print(f"[yellow]skipped[/] {skipped['request_id']}: {skipped['reason']}")
    console.print(f"[bold]{summary['replayed']} replayed[/]: {summary['now_succeed']} now succeed, "
                  f"{summary['fail']} fail, {summary['changed']} changed"
                  + (f", {summary['unknown']} unknown (original output not kept)" if summary["unknown"] else "")
                  + (f"; {summary['skipped']} skipped" if summary["skipped"] else ""))


def _outcome(status: int, version: str) -> str:
    color = "green" if status < 400 else "red"
    return f"[{color}]{status}[/] v{version}"


def _changed(changed: bool | None) -> str:
    return {True: "[yellow]yes[/]", False: "no", None: "unknown"}[changed]


def _print_replay(console: Console, result: ReplayResult) -> None:
    from rich.table import Table

    old, new = result.original, result.new
    table = Table(title=f"replay of {old.request_id} ({old.action})", title_justify="left")
    table.add_column("")
    table.add_column(f"original (v{old.version}, {old.to_dict()['time'][:19].replace('T', ' ')})", overflow="fold")
    table.add_column(f"replay (v{new.version})", overflow="fold")
    table.add_row("status", _outcome(old.status, old.version), _outcome(new.status, new.version))
    table.add_row("output", _output(old), _short(new.output, 400) if new.ok else
                  f"{new.error_type}: {new.error_message or ''}")
    table.add_row("latency ms", _ms(old.latency_ms), _ms(new.latency_ms))
    table.add_row("tokens in/out", f"{old.input_tokens}/{old.output_tokens}",
                  f"{new.input_tokens if new.input_tokens is not None else '-'}/"
                  f"{new.output_tokens if new.output_tokens is not None else '-'}")
    table.add_row("cost", _usd(old.cost_usd), _usd(new.cost_usd))
    console.print(f"input: {_short(old.input, 400)}")
    console.print(table)
    verdict = {True: "[yellow]the output changed[/]", False: "the output is the same",
               None: "cannot tell whether the output changed: the original output was not kept"}[result.changed]
    console.print(verdict + (" — it now succeeds" if new.ok and not old.ok else "")
                  + (" — it still fails" if not new.ok and not old.ok else ""))


def _output(record: RequestRecord) -> str:
    if not record.ok:
        return f"{record.error_type or 'error'}: {record.error_message or ''}"
    return _short(record.output, 400) if record.has_output else "(not kept: sampled out)"


# -- debug -----------------------------------------------------------------------------------------
@click.command()
@spec_option
@env_option()
@click.option("--window", default="24h", show_default=True, help="how far back request records are compared")
@json_option
def debug(spec_path: str, env: str, window: str, as_json: bool) -> None:
    """What changed: versions and weights, rollout, alarms, and the live version against the one before.

    Requests of each version are its newest 500 records in the window, the same records
    `deployer status` counts; cold-start requests count as requests but are left out of p50/p99.

    \b
    Exit codes: 0 shown; 1 nothing deployed, or another problem the message explains; 2 a usage error.
    """
    from deployer.ops.debug import what_changed
    from deployer.ops.records import parse_since

    report = what_changed(_target(spec_path, env), window_s=parse_since(window) or 86400.0)
    if as_json:
        _echo_json(report)
        return
    _print_debug(_console(), report, window)


def _print_debug(console: Console, report: dict[str, Any], window: str) -> None:
    from rich.table import Table

    console.print(f"[bold]{report['agent']}[/] in {report['environment']!r} ({report['where']}), "
                  f"alias {report['alias']} of {report['function']}")
    weights = ", ".join(f"v{r['version']} {r['weight'] * 100:.1f}% ({r['role']})" for r in report["routing"])
    console.print(f"traffic: {weights}")
    rollout = report["rollout"]
    if rollout:
        detail = ", ".join(f"{k} {rollout[k]}" for k in ("version", "percent", "status", "reason") if rollout.get(k))
        console.print(f"rollout: {detail or rollout}")
    else:
        console.print("rollout: none")
    alarms = Table(title="alarms", title_justify="left")
    for column in ("alarm", "state", "gates rollout", "reason"):
        alarms.add_column(column, overflow="fold")
    colors = {"ALARM": "red", "OK": "green"}
    for a in report["alarms"]:
        state = a["state"]
        alarms.add_row(a["name"], f"[{colors.get(state, 'yellow')}]{state}[/]", "yes" if a["gates_rollout"] else "no",
                       _short(a["reason"] or "", 90))
    console.print(alarms)
    cur, prev = report["current"], report["previous"]
    role = report.get("current_role", "live")
    against = f"against v{prev['version']}" if prev else "(no version before it)"
    compare = Table(title=f"version {cur['version']} ({role}) {against} (last {window} of records, the newest "
                          f"{report.get('sample_limit', '')} of each)", title_justify="left")
    compare.add_column("")
    if prev:
        compare.add_column(f"v{prev['version']} ({'live' if role != 'live' else 'before'})", justify="right")
    compare.add_column(f"v{cur['version']} ({role})", justify="right")
    rows: list[tuple[str, str, Callable[[Any], str]]] = [
        ("requests", "requests", str), ("errors", "errors", str), ("cold starts", "cold_starts", str),
        ("error rate %", "error_rate_pct", lambda v: f"{v:.2f}"), ("p50 ms", "latency_p50_ms", _ms),
        ("p99 ms", "latency_p99_ms", _ms), ("cost / request", "cost_per_request_usd", _usd)]
    for label, key, fmt in rows:
        cells = [prev, cur] if prev else [cur]
        compare.add_row(label, *("-" if c.get(key) is None else
                                 fmt(c[key]) + ("+" if key == "requests" and c.get("sampled") else "") for c in cells))
    deploys = [prev, cur] if prev else [cur]
    compare.add_row("code hash", *((c["deploy"] or {}).get("code_hash") or "-" for c in deploys))
    compare.add_row("deployed", *(((c["deploy"] or {}).get("time") or "-")[:19].replace("T", " ") for c in deploys))
    console.print(compare)
    if report["spec_diff"]:
        diff = Table(title="spec changes", title_justify="left")
        for column in ("path", "before", "after"):
            diff.add_column(column, overflow="fold")
        for d in report["spec_diff"][:40]:
            diff.add_row(d["path"], _short(d["before"], 50), _short(d["after"], 50))
        console.print(diff)
        if len(report["spec_diff"]) > 40:
            console.print(f"... and {len(report['spec_diff']) - 40} more (see --json)")
    for finding in report["findings"]:
        console.print(f"• {finding}")


# -- logs ------------------------------------------------------------------------------------------
@click.command()
@spec_option
@env_option()
@click.option("--filter", "filters", multiple=True,
              help="key=value (outcome=error, version=3, action=route) or text; repeatable")
@click.option("--since", default="1h", show_default=True, help="how far back")
@click.option("--limit", "-n", default=100, show_default=True, type=click.IntRange(min=1, max=10_000))
@click.option("--tail", is_flag=True, help="keep printing new lines (Ctrl-C stops)")
@click.option("--tail-for", type=click.FloatRange(min=0), help="with --tail: stop after this many seconds")
@click.option("--all-lines", is_flag=True, help="not only request lines (worker output, EMF)")
@json_option
def logs(spec_path: str, env: str, filters: tuple[str, ...], since: str, limit: int, tail: bool,
         tail_for: float | None, all_lines: bool, as_json: bool) -> int:
    """The structured request log lines (CloudWatch Logs in AWS, the emulator's log locally).

    \b
    Exit codes: 0 shown (also when none matched), or --tail stopped; 1 a problem the message
    explains (no log group yet, no emulator running for a local environment); 2 a usage error.
    """
    from deployer.ops.logs import LogFilter, follow_logs, read_logs
    from deployer.ops.records import parse_since

    target = _target(spec_path, env)
    log_filter = LogFilter.parse(filters, requests_only=not all_lines)
    since_s = parse_since(since) or 3600.0
    lines = read_logs(target, log_filter, since_s=since_s, limit=limit)
    for line in lines:
        _print_line(line, as_json)
    if not lines and not tail and not as_json:
        click.echo(f"no request lines in {env!r} in the last {since}"
                   + (f" matching {' '.join(filters)}" if filters else ""), err=True)
    if tail:
        try:
            for line in follow_logs(target, log_filter, max_s=tail_for, since_s=min(since_s, 60.0)):
                if line in lines:
                    continue
                _print_line(line, as_json)
        except KeyboardInterrupt:
            return 0
    return 0


def _print_line(line: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(line.record) if line.record is not None else json.dumps({"message": line.message}))
        return
    r = line.record
    if r is None:
        click.echo(line.message)
        return
    from deployer.ops.records import iso_ms

    status = int(r.get("status") or 0)
    error = f"  {r.get('error_type')}: {r.get('error_message') or ''}" if r.get("error_type") else ""
    replay_mark = "  [replay]" if r.get("replay") else ""
    click.echo(f"{iso_ms(int(r.get('ts') or 0))}  v{r.get('version')}  {r.get('action')}  "
               + click.style(str(status), fg="green" if status < 400 else "red")
               + f"  {_ms(r.get('latency_ms'))} ms  {r.get('request_id')}{error}{replay_mark}")
