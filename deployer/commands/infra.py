"""`deployer synth`, `diff` and `deploy`: the spec as CloudFormation, and on AWS (or locally).

`deploy` resolves the environment (`deployer.environments`) and calls `deployer.ops.deploy.deploy`,
the same function `Pipeline.deploy` calls; this module parses options and renders results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from deployer.commands.options import env_option, json_option, spec_option
from deployer.errors import DeployerError

if TYPE_CHECKING:
    from deployer.ops.deploy import DeployOutcome

out_option = click.option("--out", "out_dir", default="cdk.out", show_default=True,
                          type=click.Path(file_okay=False), help="cloud assembly directory")


@click.command()
@spec_option
@env_option(required=False)
@out_option
@click.option("--stable-version", metavar="N", default=None,
              help="Step Functions rollouts: the version the live alias serves now, or `none` on a first deployment")
@click.option("--cfn-validate", is_flag=True, help="also run CDK's CloudFormation schema validation (~3 s)")
def synth(spec_path: str, env: str | None, out_dir: str, stable_version: str | None, cfn_validate: bool) -> None:
    """Write CloudFormation templates and assets to cdk.out (cdk-nag checked, offline).

    Without --stable-version a Step Functions environment is synthesized as on its first deployment
    (the alias on the new version), with a warning; `deployer deploy` reads the served version itself.

    \b
    Exit codes: 0 synthesized with no open cdk-nag finding; 1 a problem with the spec, the
    bundle or the templates (the message says which); 2 a usage error.
    """
    from deployer.synth import preview_targets
    from deployer.synth import synth as run_synth

    targets = preview_targets(spec_path, environment=env, out_dir=out_dir, stable_version=stable_version)
    result = run_synth(targets, out_dir=out_dir, cfn_validate=cfn_validate)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for stack, template in result.templates.items():
        click.echo(f"{stack}: {_relative(template)}")
    click.echo(f"synthesized {len(result.templates)} stack(s) in {result.seconds:.1f}s; cdk-nag AwsSolutions: "
               f"0 open findings, {result.acknowledged} acknowledged with reasons")


@click.command()
@spec_option
@env_option()
@out_option
@click.option("--role-arn", default=None, help="CloudFormation service role for the change set")
@json_option
def diff(spec_path: str, env: str, out_dir: str, role_arn: str | None, as_json: bool) -> None:
    """Show what `deployer deploy` would change in the environment's stack.

    \b
    Exit codes: 0 shown (also when nothing would change); 1 a local environment, or a problem
    with the spec, the credentials or AWS (the message says which); 2 a usage error.
    """
    from deployer.aws.clients import AwsClients
    from deployer.aws.deploy import DeployOptions, diff_stack
    from deployer.environments import resolve_environment

    model = resolve_environment(spec_path, env).model
    if model.target != "aws":
        raise DeployerError(f"environment {env} runs in the local emulator; there is no stack to diff",
                            hint=f"`deployer deploy --env {env}` deploys it locally")
    result = diff_stack(model, clients=AwsClients.for_region(model.region),
                        options=DeployOptions(out_dir=Path(out_dir), role_arn=role_arn))
    if as_json:
        click.echo(json.dumps({"stack": result.stack, "exists": result.exists,
                               "changes": [c.__dict__ for c in result.changes],
                               "template_changes": result.template_changes}, indent=2))
        return
    if not result.exists:
        click.echo(f"{result.stack} does not exist yet; deploying creates {len(result.template_changes)} resources:")
        for line in result.template_changes:
            click.echo(f"  {line}")
        return
    if not result.changes and not result.template_changes:
        click.echo(f"{result.stack}: no changes")
        return
    click.echo(f"{result.stack}: {len(result.changes)} change(s) in the change set")
    for change in result.changes:
        click.echo(f"  {change}")
    if result.template_changes:
        click.echo("template diff against the deployed stack:")
        for line in result.template_changes:
            click.echo(f"  {line}")


@click.command()
@spec_option
@env_option()
@out_option
@click.option("--wait", is_flag=True, help="wait for the rollout to finish; exit 1 unless the new version was promoted")
@click.option("--no-rollout", is_flag=True, help="update the stack but do not start the traffic shift")
@click.option("--role-arn", default=None, help="CloudFormation service role for the change set")
@click.option("--inject-error-rate", type=click.FloatRange(0, 1), default=0.0,
              help="local only: share of the new version's requests that fail (to watch a rollback)")
@click.option("--inject-latency-ms", type=click.FloatRange(min=0), default=0.0,
              help="local only: latency added to each request of the new version")
@click.option("--inject-cost-multiplier", type=click.FloatRange(min=0), default=1.0,
              help="local only: multiplier of the new version's cost per request")
@click.option("--inject-confusion", default=None, metavar="FIELD:A=B",
              help="local only: the new version's answers say B where they would say A in FIELD (a model that "
                   "confuses two classes: fast, error-free and wrong)")
@json_option
def deploy(spec_path: str, env: str, out_dir: str, wait: bool, no_rollout: bool, role_arn: str | None,
           inject_error_rate: float, inject_latency_ms: float, inject_cost_multiplier: float,
           inject_confusion: str | None, as_json: bool) -> None:
    """Deploy one environment: to AWS (assets, change set, rollout) or into the local emulator.

    \b
    Exit codes: 0 deployed (with --wait: the new version was promoted to 100 %);
    1 a problem with the spec, the deployment, or (with --wait) the rollout rolled back or gave up;
    2 a usage error.
    """
    from deployer.environments import resolve_environment
    from deployer.ops.deploy import deploy as run_deploy

    if inject_confusion is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*:[^=]+=.+", inject_confusion):
        raise click.BadParameter("give FIELD:A=B, e.g. team:cards=transfers", param_hint="--inject-confusion")
    faults: dict[str, Any] = {"error_rate": inject_error_rate, "latency_ms": inject_latency_ms,
                              "cost_multiplier": inject_cost_multiplier, "confuse": inject_confusion}
    outcome = run_deploy(resolve_environment(spec_path, env).target(), faults=faults, wait=wait, out_dir=out_dir,
                         role_arn=role_arn, start_rollout=not no_rollout)
    if outcome.local:
        click.echo(json.dumps(outcome.to_dict(), indent=2, default=str) if as_json else _local_summary(outcome))
    elif as_json:
        assert outcome.stack is not None
        result = outcome.stack
        click.echo(json.dumps({"stack": result.stack, "status": result.status, "version": result.version,
                               "stable_version": result.stable_version, "outputs": result.outputs,
                               "rollout_execution": result.rollout_execution,
                               "rollout_status": result.rollout_status, "rollout_cause": result.rollout_cause,
                               "seconds": round(result.seconds, 1)}, indent=2))
    else:
        _aws_summary(outcome, env)
    if wait or not outcome.local:
        _fail_unless_promoted(outcome, env)


def _aws_summary(outcome: DeployOutcome, env: str) -> None:
    result = outcome.stack
    assert result is not None
    click.echo(f"{result.stack}: {result.status} in {result.seconds:.0f}s "
               f"({result.uploaded_assets} asset(s) uploaded, {len(result.changes)} change(s))")
    if result.version:
        click.echo(f"  version {result.version}" + (f" (serving: {result.stable_version})"
                                                     if result.stable_version else ""))
    for key, value in sorted(result.outputs.items()):
        click.echo(f"  {key}: {value}")
    if result.rollout_execution:
        click.echo(f"  rollout {result.rollout_status}: {result.rollout_execution}")
        if result.rollout_status == "RUNNING":
            click.echo(f"  follow it with `deployer status --env {env}`; `deployer rollback --env {env}` stops it")


def _fail_unless_promoted(outcome: DeployOutcome, env: str) -> None:
    """`--wait` exits 1 when the rollout rolled back or gave up, saying why."""
    why = outcome.not_promoted()
    if why is not None:
        raise DeployerError(why, hint=f"`deployer status --env {env}` and `deployer errors --env {env}` show what happened")


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _local_summary(outcome: DeployOutcome) -> str:
    lines = [f"local: version {outcome.version}" + (" (new)" if outcome.created else " (unchanged)")]
    if outcome.message:
        lines.append(f"  {outcome.message}")
    rollout = outcome.rollout
    if rollout:
        stable = rollout.get("stable_version")
        origin = f"from v{stable}" if stable else "(the first version)"
        lines.append(f"  rollout of v{rollout.get('version')} {origin}: {rollout.get('status')}")
        lines += [f"    {event.get('message')}" for event in rollout.get("events", [])]
    return "\n".join(lines)
