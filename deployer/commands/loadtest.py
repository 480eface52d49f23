"""`deployer loadtest`: load-test one environment and gate on its SLOs (the staging stage).

Exit codes: 0 every SLO gate passed; 1 a gate failed (the CI gate); 2 a usage error (bad flags,
spec or input file, no target); 130 interrupted (the report of what ran is still written).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from deployer.commands.options import env_option, spec_option


def _duration(value: str | None) -> float | None:
    if value is None:
        return None
    from deployer.spec.types import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--duration") from exc
    return float(seconds)


@click.command()
@env_option()
@spec_option
@click.option("--rps", type=float, help="requests per second to hold (default: the spec's load_test.rps)")
@click.option("--duration", help="how long to hold it: 90, 30s, 5m (default: load_test.duration)")
@click.option("--users", type=int, help="concurrent users sending the requests (default: load_test.users)")
@click.option("--input", "input_file", type=click.Path(dir_okay=False),
              help="JSON lines of action inputs (default: load_test.input_file)")
@click.option("--workers", type=int, help="locust worker processes (master/worker on 127.0.0.1); default 1")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="directory for report.json, report.html and the plots")
@click.option("--concurrency", help="concurrency sweep levels, e.g. 100,1000 (default: load_test.concurrency)")
@click.option("--target", "target_url", help="base URL to load (default: the emulator or the Function URL)")
@click.option("--sign", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="SigV4-sign requests (auto: Function URLs with IAM auth)")
def loadtest(env: str, spec_path: str, rps: float | None, duration: str | None, users: int | None,
             input_file: str | None, workers: int | None, report_dir: str | None, concurrency: str | None,
             target_url: str | None, sign: str) -> int:
    """Hold a request rate against an environment, judge it against its SLOs, write the report.

    \b
    Exit codes: 0 every SLO gate passed; 1 a gate failed or could not be judged;
    2 usage error; 130 interrupted (the report of what ran is still written).
    """
    from deployer.errors import SpecError
    from deployer.loadtest.inputs import InputFileError, load_inputs
    from deployer.loadtest.plan import LoadTestUsageError, Overrides, parse_concurrency, resolve_plan

    try:
        overrides = Overrides(
            rps=rps, duration_s=_duration(duration), users=users, input_file=input_file, workers=workers,
            concurrency=parse_concurrency(concurrency) if concurrency is not None else None,
            target_url=target_url, report_dir=report_dir, sign=sign)
        model = _compile(spec_path, env)
        with _target(model, target_url) as (url, iam_auth):
            plan = resolve_plan(model, overrides, target_url=url, iam_auth=iam_auth)
            load_inputs(plan.input_file, distribution=plan.distribution, weight_field=plan.weight_field)
            code = _run(plan)
    except (LoadTestUsageError, InputFileError, SpecError) as exc:
        raise click.UsageError(str(exc)) from exc
    return code


def _compile(spec_path: str, env: str) -> Any:
    from deployer.compiler import compile_environment
    from deployer.spec import load_spec

    return compile_environment(load_spec(spec_path), env)


@contextlib.contextmanager
def _target(model: Any, target_url: str | None) -> Iterator[tuple[str | None, bool | None]]:
    """The URL to load: --target, else the emulator (local) or the deployed Function URL (aws)."""
    if target_url:
        yield target_url, None
        return
    if model.target == "aws":
        from deployer.loadtest.target import function_url

        resolved = function_url(model)
        yield resolved.url, resolved.iam_auth
        return
    from deployer.local.control import find_emulator, state_dir_for

    running = find_emulator(state_dir_for(model.spec_file))
    if running is not None and (running.get("agent"), running.get("environment")) == (model.agent, model.environment):
        # `deployer local up` serves this environment: load what it runs
        yield str(running["gateway_url"]), False
        return
    from deployer.loadtest.emulated import emulated_target

    with emulated_target(model) as url:
        yield url, False


def _run(plan: Any) -> int:
    from rich.console import Console

    from deployer.loadtest.render import ProgressView, print_summary
    from deployer.loadtest.report import write_report
    from deployer.loadtest.session import run_load_test

    console = Console(stderr=True)
    console.print(f"[bold]load test[/] {plan.model.agent}/{plan.model.environment} -> {plan.target_url}/"
                  f"{plan.action}: {plan.rps:g} rps for {plan.duration_s:g}s, {plan.users} users, "
                  f"{plan.workers} worker(s)" + (f", concurrency {list(plan.concurrency)}" if plan.concurrency else ""))
    with ProgressView(console) as view:
        result = run_load_test(plan, on_progress=view.update, on_phase=view.phase)
    files = write_report(result)
    print_summary(Console(), result, files)
    if result.interrupted:
        return 130
    return 0 if result.passed else 1
