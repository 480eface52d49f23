"""`deployer eval`: the spec's evaluation set through a deployed version and the stable one."""

from __future__ import annotations

from pathlib import Path

import click

from deployer.commands.options import env_option, json_option, spec_option


@click.command(name="eval")
@spec_option
@env_option(required=False)
@click.option("--version", "version", default=None, help="the version to judge (default: the canary, else the live one)")
@click.option("--against", default="stable", show_default=True,
              help="compare with: stable (the alias's version), a version number, or none")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), default="reports/eval", show_default=True,
              help="where evaluation.json, evaluation.html and the resumable answers go")
@click.option("--concurrency", type=click.IntRange(1, 64), default=None, help="requests in flight (default: the spec's)")
@click.option("--limit", type=click.IntRange(1), default=None, help="evaluate the first N examples only")
@json_option
def evaluate(spec_path: str, env: str | None, version: str | None, against: str, report_dir: str, concurrency: int | None,
             limit: int | None, as_json: bool) -> int:
    """Score a deployed version on the spec's evaluation set, compare it with the stable version.

    Every example is a normal request to that version (recorded, marked as a replay so it stays
    out of the metrics the alarms watch). Reports accuracy (and per-class figures for labels), the
    answers that changed, and whether a drop is real (McNemar's exact test). Interrupted, it
    resumes from the answers already in the report directory.

    \b
    Exit codes: 0 the version passed the evaluation gate; 1 it failed, or the evaluation could
    not run; 2 a usage error.
    """
    import json

    from rich.progress import Progress

    from deployer.environments import resolve_environment
    from deployer.evaluation.report import verdict_lines
    from deployer.evaluation.session import evaluate as run

    environment = resolve_environment(spec_path, env)
    target = environment.target()
    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task("evaluating", total=None)
        result = run(target, version=version, against=None if against == "none" else against,
                     report_dir=Path(report_dir), concurrency=concurrency, limit=limit,
                     progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        click.echo(json.dumps(json.loads(result.report_json.read_text()), indent=1))
    else:
        if result.resumed:
            click.echo(f"resumed: {result.resumed} answers from the interrupted run in {report_dir}")
        for line in verdict_lines(result.verdict, env=environment.name):
            click.echo(line)
        click.echo(f"{result.requests_per_s:.1f} requests/s; report: {result.report_html}")
    return 0 if result.verdict.passed else 1
