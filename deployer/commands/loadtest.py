"""`deployer loadtest`: load-test one environment and gate on its SLOs (the staging stage).

Exit codes: 0 every SLO gate and the evaluation gate passed; 1 a gate failed (the CI gate); 2 a usage error (bad flags,
spec or input file, no target); 130 interrupted, 143 SIGTERM (the report of what ran is still written).
"""

from __future__ import annotations

from typing import Any

import click

from deployer.commands.options import env_option, spec_option


def _duration(value: str | None, flag: str) -> float | None:
    if value is None:
        return None
    from deployer.spec.types import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from exc
    return float(seconds)


#: With --worker, only these options mean anything: the plan comes from the master.
WORKER_OPTIONS = {"worker", "master_host", "master_port", "workers", "join_timeout", "report_dir"}


@click.command()
@env_option(required=False)
@spec_option
@click.option("--rps", type=float, help="requests per second to hold (default: the spec's load_test.rps)")
@click.option("--duration", help="how long to hold it: 90, 30s, 5m (default: load_test.duration)")
@click.option("--users", type=int, help="concurrent users sending the requests (default: load_test.users)")
@click.option("--input", "input_file", type=click.Path(dir_okay=False),
              help="JSON lines of action inputs (default: load_test.input_file)")
@click.option("--workers", type=int, help="locust worker processes on this host (master/worker on 127.0.0.1); "
                                          "default 1")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="directory for report.json, report.html and the plots (with --worker: its logs)")
@click.option("--concurrency", help="concurrency sweep levels, e.g. 100,1000 (default: load_test.concurrency)")
@click.option("--target", "target_url", help="base URL to load (default: the emulator or the Function URL)")
@click.option("--sign", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="SigV4-sign requests (auto: Function URLs with IAM auth)")
@click.option("--no-eval", "skip_eval", is_flag=True,
              help="skip the spec's evaluation set (run before the load; its gate is part of the verdict)")
@click.option("--master", is_flag=True, help="run only the master: workers on other hosts join it "
                                             "(`deployer loadtest --worker`)")
@click.option("--expect-workers", type=int, help="with --master: worker processes to wait for (all hosts)")
@click.option("--master-bind-host", default="*", show_default=True,
              help="with --master: the interface workers connect to")
@click.option("--master-port", type=int, default=5557, show_default=True,
              help="the master's port for its workers (TCP)")
@click.option("--worker", is_flag=True, help="join a master on another host with this host's generator; "
                                             "the plan and inputs come from the master")
@click.option("--master-host", help="with --worker: the master's address")
@click.option("--join-timeout", help="how long the master waits for its workers (default 2m), or a worker for "
                                     "its master (default 10m)")
def loadtest(env: str | None, spec_path: str, rps: float | None, duration: str | None, users: int | None,
             input_file: str | None, workers: int | None, report_dir: str | None, concurrency: str | None,
             target_url: str | None, sign: str, skip_eval: bool, master: bool, expect_workers: int | None, master_bind_host: str,
             master_port: int, worker: bool, master_host: str | None, join_timeout: str | None) -> int:
    """Hold a request rate against an environment, judge it against its SLOs, write the report.

    When the spec has an evaluation section, its labelled set goes through the version first
    (as `deployer eval` does) and its gate is part of the verdict (--no-eval skips it; a bare
    --target URL cannot be evaluated).

    \b
    --env is required, except with --worker: a worker takes everything from its master.
    Across hosts: `deployer loadtest --env staging --master --expect-workers 4` on one host,
    `deployer loadtest --worker --master-host HOST` on each worker host (see docs/loadtest.md).

    \b
    Exit codes: 0 every SLO gate (and the evaluation gate) passed; 1 a gate failed or could not
    be judged (or the workers did not join); 2 usage error; 130 interrupted, 143 stopped by SIGTERM (a
    cancelled CI job): the generators are stopped and the report of what ran is still written.
    """
    if worker:
        return _worker(master_host, master_port, workers, join_timeout, report_dir)
    from deployer.environments import resolve_environment
    from deployer.errors import SpecError
    from deployer.loadtest.inputs import InputFileError, load_inputs
    from deployer.loadtest.plan import (
        DEFAULT_JOIN_TIMEOUT_S,
        LoadTestUsageError,
        MasterSetup,
        Overrides,
        parse_concurrency,
        resolve_plan,
    )
    from deployer.loadtest.target import load_target

    if env is None:
        raise click.UsageError("Missing option '--env' / '-e' (only a --worker runs without it).")
    if not master and (expect_workers is not None or _given("master_bind_host", "join_timeout")):
        raise click.UsageError("--expect-workers, --master-bind-host and --join-timeout go with --master")
    if master and expect_workers is None:
        raise click.UsageError("--master needs --expect-workers N: the worker processes that will join it")
    if master_host is not None:
        raise click.UsageError("--master-host goes with --worker (the master itself listens on --master-bind-host)")
    try:
        setup = MasterSetup(expect_workers=expect_workers or 0, bind_host=master_bind_host, port=master_port,
                            join_timeout_s=_duration(join_timeout, "--join-timeout") or DEFAULT_JOIN_TIMEOUT_S,
                            ) if master else None
        overrides = Overrides(
            rps=rps, duration_s=_duration(duration, "--duration"), users=users, input_file=input_file,
            workers=workers, concurrency=parse_concurrency(concurrency) if concurrency is not None else None,
            target_url=target_url, report_dir=report_dir, sign=sign, master=setup)
        environment = resolve_environment(spec_path, env)
        with load_target(environment, target_url) as target:
            plan = resolve_plan(environment.model, overrides, target_url=target.url, iam_auth=target.iam_auth)
            inputs = load_inputs(plan.input_file, distribution=plan.distribution, weight_field=plan.weight_field)
            if note := inputs.limit_note():
                click.echo(f"warning: {note}", err=True)
            code = _run(plan, target.ops, inputs, evaluate=not skip_eval)
    except (LoadTestUsageError, InputFileError, SpecError) as exc:
        raise click.UsageError(str(exc)) from exc
    return code


def _given(*names: str) -> bool:
    from click.core import ParameterSource

    context = click.get_current_context()
    return any(context.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
               for name in names)


def _worker(master_host: str | None, master_port: int, processes: int | None, join_timeout: str | None,
            report_dir: str | None) -> int:
    """`--worker`: refuse every plan option (the master's plan is the only plan), then serve the master."""
    context = click.get_current_context()
    extra = sorted(param.opts[0] for param in context.command.params
                   if param.name not in WORKER_OPTIONS and param.name and _given(param.name))
    if extra:
        raise click.UsageError(f"a worker takes its plan and inputs from the master: drop {', '.join(extra)} "
                               "(give them to `deployer loadtest --master` on the master host)")
    if not master_host:
        raise click.UsageError("--worker needs --master-host: the address of the host running "
                               "`deployer loadtest --master`")
    if processes is not None and not 1 <= processes <= 64:
        raise click.UsageError(f"--workers must be between 1 and 64, got {processes}")
    from rich.console import Console

    from deployer.loadtest.worker import DEFAULT_WAIT_S, WorkerOptions, run_worker

    options = WorkerOptions(master_host=master_host, master_port=master_port, processes=processes or 1,
                            log_dir=report_dir or "reports/loadtest-worker",
                            join_timeout_s=_duration(join_timeout, "--join-timeout") or DEFAULT_WAIT_S)
    console = Console(stderr=True)
    result = run_worker(options, notify=lambda line: console.print(line, highlight=False))
    if result.interrupted:
        console.print("[yellow]interrupted[/]")
        return 130
    return 0


def _run(plan: Any, ops: Any, inputs: Any, *, evaluate: bool) -> int:
    from rich.console import Console

    from deployer.loadtest.plan import plan_warnings
    from deployer.loadtest.render import ProgressView, print_summary
    from deployer.loadtest.report import write_report
    from deployer.loadtest.session import run_load_test

    console = Console(stderr=True)
    console.print(f"[bold]load test[/] {plan.model.agent}/{plan.model.environment} -> {plan.target_url}/"
                  f"{plan.action}: {plan.rps:g} rps for {plan.duration_s:g}s, {plan.users} users, "
                  f"{plan.workers} worker(s)" + (f", concurrency {list(plan.concurrency)}" if plan.concurrency else ""))
    if plan.master:
        console.print(f"master: waiting up to {plan.master.join_timeout_s:g}s for {plan.master.expect_workers} "
                      f"worker(s) on {plan.master.bind_host}:{plan.master.port}; on each worker host run "
                      f"`deployer loadtest --worker --master-host <this host> --master-port {plan.master.port}`")
    for warning in plan_warnings(plan):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    with ProgressView(console) as view:
        result = run_load_test(plan, on_progress=view.update, on_phase=view.phase, ops=ops, evaluate=evaluate,
                               inputs=inputs)
    files = write_report(result)
    print_summary(Console(), result, files)
    if result.interrupted:
        return 130
    return 0 if result.passed else 1
