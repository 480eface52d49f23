"""`deployer local up` and `deployer drill`: the emulator in the foreground, and the rollback drill."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import sys
from typing import Any

import click

from deployer.commands.options import json_option, spec_option
from deployer.errors import DeployerError


class StopSignals:
    """SIGINT and SIGTERM, taken safely while inside: `with StopSignals() as signals: signals.wait()`.

    The handler only appends the signal's number to `received` and takes no lock: a lock taken in
    a handler (`threading.Event.set`) deadlocks when a second signal lands while the first handler,
    or the main thread, holds it. A self-pipe (`signal.set_wakeup_fd`) ends `wait` at once.
    Repeated and mixed signals only add to `received`; the previous handlers come back on exit."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._pipe: tuple[int, int] | None = None
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1

    def _handle(self, signum: int, frame: Any) -> None:
        self.received.append(signum)

    def __enter__(self) -> StopSignals:
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        self._pipe = (read_end, write_end)
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        self._previous_fd = signal.set_wakeup_fd(write_end)
        return self

    def wait(self, poll_s: float = 1.0) -> int:
        """Block until a signal came; the first one's number."""
        assert self._pipe is not None
        while not self.received:
            ready, _, _ = select.select([self._pipe[0]], [], [], poll_s)
            if ready:
                with contextlib.suppress(OSError):
                    os.read(self._pipe[0], 512)
        return self.received[0]

    def __exit__(self, *exc: object) -> None:
        signal.set_wakeup_fd(self._previous_fd)
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None


@click.group()
def local() -> None:
    """Run the agent's AWS stack on this machine: moto, a gateway, alarms, rollouts."""


@local.command()
@spec_option
@click.option("--env", "-e", "env", help="the environment (default: the first with target: local)")
@click.option("--time-scale", default=1.0, show_default=True, type=click.FloatRange(min=0.001),
              help="emulated seconds per real second (60: a 5-minute bake takes 5 s)")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="gateway port on 127.0.0.1 (0: any free port)")
@click.option("--moto-port", default=0, show_default=True, type=click.IntRange(0, 65535), help="moto server port")
@click.option("--on-restart", type=click.Choice(["rollback", "resume"]), default="rollback", show_default=True,
              help="what to do with a rollout the last run left unfinished")
@click.option("--deploy/--no-deploy", "deploy_now", default=False, help="deploy the spec's current code at start")
def up(spec_path: str, env: str | None, time_scale: float, port: int, moto_port: int, on_restart: str,
       deploy_now: bool) -> None:
    """Start the emulator in the foreground; Ctrl-C stops it cleanly.

    Prints the gateway URL (the Function URL stand-in), the moto endpoint (point boto3 at it with
    AWS_ENDPOINT_URL) and the control URL, then one line per emulator event (also appended as JSON
    to events.log in the state directory). Other commands (`deploy --env local`, `status`,
    `rollback`, `alerts`) find it through .deployer/local/emulator.json next to the spec.
    """
    from deployer.environments import resolve_environment
    from deployer.local import Emulator
    from deployer.local.front.discovery import find_emulator, state_dir_for

    model = resolve_environment(spec_path, env, local_only=True).model
    state_dir = state_dir_for(spec_path)
    running = find_emulator(state_dir)
    if running is not None:
        raise DeployerError(f"an emulator is already running for this project (pid {running.get('pid')}, "
                            f"gateway {running.get('gateway_url')})", hint="stop it first (Ctrl-C in its terminal)")
    # events (deploys, shifts, alarms, rollbacks...) also print here, one line each; colours only on a terminal
    emulator = Emulator(model, state_dir=state_dir, time_scale=time_scale, gateway_port=port, moto_port=moto_port,
                        on_restart=on_restart, advertise=True,  # type: ignore[arg-type]
                        event_console=sys.stdout)
    with StopSignals() as signals:
        try:
            _serve(emulator, model, state_dir, time_scale, deploy_now, signals)
        finally:
            emulator.stop()  # signals arriving now only add to `received`: stopping is never interrupted
    click.echo("stopped")


def _serve(emulator: Any, model: Any, state_dir: Any, time_scale: float, deploy_now: bool,
           signals: StopSignals) -> None:
    """Start the emulator, say where it is, and wait for a stop signal."""
    emulator.start()
    ends = emulator.endpoints()
    click.echo(f"emulator for {model.agent} ({model.environment}) is up; time x{time_scale:g}")
    click.echo(f"  gateway (Function URL): {ends['gateway_url']}   e.g. curl -X POST "
               f"{ends['gateway_url']}/{model.load.action} -d '{{...}}'")
    click.echo(f"  moto endpoint:          {ends['moto_endpoint']}   "
               f"(export AWS_ENDPOINT_URL={ends['moto_endpoint']} AWS_ACCESS_KEY_ID=testing "
               "AWS_SECRET_ACCESS_KEY=testing)")
    click.echo(f"  control API:            {ends['control_url']}")
    click.echo(f"  function {model.function.name}, alias {model.alias}, state in {state_dir}")
    click.echo(f"  unlike AWS: IAM is not enforced, memory_mb is not a limit, time x{time_scale:g} scales waiting "
               "only (handler time is real); the rest: docs/local.md, 'What the emulator does not do like AWS'")
    if emulator.restart_notice:
        click.echo(f"  restart: {emulator.restart_notice}")
    if deploy_now:
        result = emulator.deploy()
        click.echo(f"  deployed: {result.message}")
    click.echo("deploy with `deployer deploy --env " + model.environment + "`; Ctrl-C to stop")
    signals.wait()
    click.echo("stopping ...")


@click.command()
@spec_option
@click.option("--env", "-e", "env", help="the environment (default: the first with target: local)")
@click.option("--error-rate", default=0.3, show_default=True, type=click.FloatRange(0, 1),
              help="share of the faulty version's requests that fail")
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="latency added to each request of the faulty version")
@click.option("--cost-multiplier", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="multiplier of the faulty version's cost per request")
@click.option("--fault", type=click.Choice(["errors", "quality"]), default="errors", show_default=True,
              help="quality: a version whose answers confuse two labels of the online quality gate (fast, "
                   "error-free, wrong); no error rate unless --error-rate is given")
@click.option("--confuse", metavar="FIELD:A=B", help="with --fault quality: which answers to confuse "
                                                      "(default: the gate's most frequent label as the next one)")
@click.option("--strategy", type=click.Choice(["canary", "linear", "steps", "all_at_once"]),
              help="rollout strategy (default: the spec's)")
@click.option("--time-scale", default=60.0, show_default=True, type=click.FloatRange(min=0.001),
              help="emulated seconds per real second")
@click.option("--rps", default=300.0, show_default=True, type=click.FloatRange(1, 2000),
              help="traffic rate in real requests per second")
@click.option("--max-wall", default=150.0, show_default=True, type=click.FloatRange(5, 3600),
              help="hard limit on the drill's wall time, seconds")
@json_option
def drill(spec_path: str, env: str | None, error_rate: float, latency_ms: float, cost_multiplier: float,
          fault: str, confuse: str | None, strategy: str | None, time_scale: float, rps: float, max_wall: float, as_json: bool) -> int:
    """Rollback drill: deploy a healthy version, then a faulty one, and watch it roll back.

    Prints a timeline (fault began, each alarm fired, traffic back on the stable version, requests
    served by the faulty version) and which signal caught it (an alarm, the quality gate).

    \b
    Exit codes: 0 the faulty version was rolled back and a healthy version serves 100 % of the
    traffic; 1 it was not (or the healthy version was not healthy); 2 a usage error.
    """
    from click.core import ParameterSource

    from deployer.environments import resolve_environment
    from deployer.local import Faults
    from deployer.local.front.drill import format_report, quality_fault, run_drill

    model = resolve_environment(spec_path, env, local_only=True).model
    if confuse and fault != "quality":
        raise click.UsageError("--confuse goes with --fault quality")
    if fault == "quality":
        explicit = click.get_current_context().get_parameter_source("error_rate") == ParameterSource.COMMANDLINE
        error_rate = error_rate if explicit else 0.0
        confuse = confuse or quality_fault(model)
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[^=]+=.+", confuse):
            raise click.BadParameter(f"{confuse!r} is not FIELD:A=B", param_hint="--confuse")
    faults = Faults(error_rate=error_rate, latency_ms=latency_ms, cost_multiplier=cost_multiplier,
                    confuse=confuse or "")
    if not faults.as_dict():
        raise DeployerError("no fault to inject", hint="give --error-rate, --latency-ms, --cost-multiplier or "
                                                       "--fault quality")
    report = run_drill(model, faults=faults, strategy=strategy, time_scale=time_scale, rps=rps, max_wall_s=max_wall)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=1, default=str))
    else:
        for line in format_report(report):
            click.echo(line)
    return 0 if report.ok else 1
