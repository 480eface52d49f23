"""`deployer invoke` and `deployer bundle`: run one request locally, build the Lambda bundle."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from deployer.commands.options import json_option, spec_option
from deployer.errors import DeployerError


def _read_data(data: str | None) -> str:
    if data is None:
        return "{}"
    if data == "-":
        return sys.stdin.read()
    if data.startswith("@"):
        path = Path(data[1:])
        if not path.is_file():
            raise DeployerError(f"--data {data}: no such file")
        return path.read_text(encoding="utf-8")
    return data


@click.command()
@click.argument("action")
@click.option("--data", "-d", help="the JSON input; @file.json reads a file, - reads stdin  [default: {}]")
@spec_option
@click.option("--env", "-e", "env", help="the environment (default: the one an emulator serves, else the first "
                                         "with target: local)")
@click.option("--replay", is_flag=True, help="mark the request as a replay (replay metrics namespace)")
@json_option
def invoke(action: str, data: str | None, spec_path: str, env: str | None, replay: bool, as_json: bool) -> int:
    """Run ACTION once through the Lambda runtime.

    In this process by default (Stage 1): prints the response, the request's structured log line
    and its EMF metrics. With --env naming a local-target environment and `deployer local up`
    running, the request goes through the emulator's gateway instead (alias weights, metrics,
    alarms).

    \b
    Exit codes: 0 the agent answered 2xx; 1 it answered an error (4xx/5xx), or a problem the
    message explains (the spec, the --data file); 2 a usage error.
    """
    from deployer.environments import resolve_environment
    from deployer.invoke import invoke as run

    environment = resolve_environment(spec_path, env)
    model = environment.model
    body = _read_data(data)
    if env is not None and environment.local:
        running = environment.emulator(required=False)
        if running is not None:
            return 0 if _through_gateway(action, body, str(running["gateway_url"]), replay, as_json) < 400 else 1
        click.echo("no local emulator is running (start one with `deployer local up`): invoking in-process", err=True)
    result = run(model, action, body, replay=replay)  # in-process (Stage 1): no emulator needed
    if as_json:
        click.echo(json.dumps({"status": result.status, "response": result.body, "log": result.record,
                               "metrics": result.metrics, "init_ms": result.init_ms}, indent=2))
    else:
        if result.init_ms is not None:
            click.echo(f"cold start: agent import and model load took {result.init_ms:.1f} ms (not in the latency)")
        click.secho(f"response ({result.status})", bold=True, fg="green" if result.ok else "red")
        click.echo(json.dumps(result.body, indent=2))
        click.secho("log line", bold=True)
        click.echo(result.log_line)
        click.secho("metrics (EMF)", bold=True)
        click.echo(_metrics_summary(result.metrics))
    return 0 if result.ok else 1


def _through_gateway(action: str, body: str, gateway_url: str, replay: bool, as_json: bool) -> int:
    """Send the request through the running emulator's gateway; its status."""
    from deployer.ops.replay import call_gateway

    reply = call_gateway(gateway_url, action, body.encode(), replay=replay)
    if as_json:
        click.echo(json.dumps({**reply.to_dict(), "gateway_url": gateway_url}, indent=2))
    else:
        click.secho(f"response ({reply.status}) from version {reply.version} via {gateway_url}", bold=True,
                    fg="green" if reply.status < 400 else "red")
        click.echo(json.dumps(reply.body, indent=2))
        click.echo(f"handler {reply.handler_ms or 0.0:.1f} ms, max memory {reply.max_memory_mb or 0.0:.0f} MB, "
                   f"request {reply.request_id}")
    return reply.status


def _metrics_summary(emf: dict[str, Any]) -> str:
    aws = emf.get("_aws", {})
    directive = (aws.get("CloudWatchMetrics") or [{}])[0]
    dims = ", ".join(f"{name}={emf.get(name)}" for name in (directive.get("Dimensions") or [[]])[0])
    lines = [f"namespace {directive.get('Namespace')}  [{dims}]"]
    for metric in directive.get("Metrics", []):
        lines.append(f"  {metric['Name']:<16} {emf.get(metric['Name'])} {metric.get('Unit', '')}".rstrip())
    return "\n".join(lines)


@click.command()
@spec_option
@click.option("--env", "-e", "env", required=True, help="the environment in agent.yaml")
@click.option("--out", "-o", "out_dir", default=".deployer/bundles", show_default=True,
              type=click.Path(file_okay=False), help="directory the bundle is written under")
@json_option
def bundle(spec_path: str, env: str, out_dir: str, as_json: bool) -> None:
    """Build the Lambda bundle of an environment (code, resolved spec, manylinux deps, .pyc).

    \b
    Each phase prints a line with its elapsed time on stderr (a first install of a large stack
    takes minutes). An AWS environment's bundle over Lambda's 250 MB unzipped limit is an error.

    \b
    Exit codes: 0 built; 1 a problem with the spec, the code or its requirements, or a bundle
    Lambda would refuse (the message says which and how to fix it); 2 a usage error.
    """
    from deployer.bundle import build
    from deployer.environments import resolve_environment

    info = build(resolve_environment(spec_path, env).model, Path(out_dir),
                 progress=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(json.dumps({"path": str(info.path), **info.manifest()}, indent=2))
        return
    click.echo(f"bundle {info.path}")
    click.echo(f"  hash {info.hash}")
    share = f" ({info.size.total_bytes / info.size.limit_bytes:.0%} of Lambda's limit)" if info.size else ""
    click.echo(f"  {info.files} files, {info.size_bytes / 2**20:.1f} MB unzipped{share}, python {info.python} "
               f"{info.architecture}, entry point handlers.runtime.handler")
    if not info.compiled:
        click.echo(f"  note: no python{info.python} on this machine, so no .pyc files: Lambda will compile "
                   "the code on every cold start", err=True)
