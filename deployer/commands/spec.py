"""`deployer validate`, `plan`, `schema` and `init`: the spec, and what it compiles to."""

from __future__ import annotations

import json
from pathlib import Path

import click

from deployer.commands.options import env_option, json_option, spec_option
from deployer.errors import DeployerError


@click.command()
@spec_option
@env_option(required=False)
@click.option("--no-code", is_flag=True, help="skip importing the agent code")
def validate(spec_path: str, env: str | None, no_code: bool) -> None:
    """Check agent.yaml (every environment) and the agent code; report every problem at once.

    \b
    Exit codes: 0 valid (warnings are printed); 1 problems found, each as file:line:col;
    2 a usage error.
    """
    from deployer.validation import validate_spec

    report = validate_spec(spec_path, environment=env, check_code=not no_code)
    for warning in report.warnings:
        click.echo(warning, err=True)
    click.echo(report.summary)


@click.command()
@spec_option
@env_option()
@json_option
def plan(spec_path: str, env: str, as_json: bool) -> None:
    """Show what the spec compiles to for one environment.

    \b
    Exit codes: 0 shown; 1 the spec has problems (each as file:line:col); 2 a usage error.
    """
    from deployer.environments import resolve_environment

    model = resolve_environment(spec_path, env).model
    if as_json:
        click.echo(json.dumps(model.to_dict(), indent=2))
        return
    from deployer.plan_view import render_plan

    render_plan(model)


@click.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="write to this file instead of stdout")
def schema(output: str | None) -> None:
    """Print the JSON Schema of agent.yaml (for editor completion).

    \b
    Exit codes: 0 printed or written; 1 the file cannot be written; 2 a usage error.
    """
    from deployer.spec.schema import schema_json

    text = schema_json()
    if output:
        try:
            Path(output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            raise DeployerError(f"cannot write {output}: {exc.strerror}") from exc
        click.echo(f"wrote {output}")
    else:
        click.echo(text)


@click.command()
@click.argument("name")
@click.option("--directory", "-d", type=click.Path(file_okay=False), help="where to create it (default: ./NAME)")
def init(name: str, directory: str | None) -> None:
    """Scaffold a new agent: agent.yaml, agent code and a test, ready to validate.

    \b
    Exit codes: 0 written; 1 the directory is not empty or NAME is not usable (the message
    says why); 2 a usage error.
    """
    from deployer.scaffold import next_steps, scaffold_agent

    target = scaffold_agent(name, Path(directory or name))
    for line in next_steps(target):
        click.echo(line)
