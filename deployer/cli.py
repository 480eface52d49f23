"""The `deployer` command line: a thin layer over the library.

Commands are registered by name and imported only when run, so `deployer validate` never pays
for aws_cdk, moto, locust or boto3. `main()` is the one error boundary and the only place that
decides exit codes: a command returns its code (0 when it returns nothing); a `DeployerError`
prints its message and hint and exits with its `exit_code` (1 unless it says otherwise); a usage
error exits 2 (click); Ctrl-C exits 130; anything else is a bug: a traceback and exit 2.

A SIGTERM (a CI job cancelled, `kill PID`) stops a command the way Ctrl-C does (a load test stops
its generators and writes the report of what ran, an evaluation keeps its checkpoint) and exits 143.
"""

from __future__ import annotations

import importlib
import os
import signal
import traceback
from types import FrameType

# The CLI uses no pydantic plugins; discovering them scans every installed distribution at the
# first model build (~8 ms of each command's start). Set the variable to re-enable them.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import click

from deployer.errors import DeployerError

#: command name -> "module:attribute" of a click command, by stage (the order `deployer --help`
#: shows them in). Each area owns its module.
STAGES: dict[str, dict[str, str]] = {
    "The spec": {
        "init": "deployer.commands.spec:init",
        "validate": "deployer.commands.spec:validate",
        "plan": "deployer.commands.spec:plan",
        "schema": "deployer.commands.spec:schema",
    },
    "Stage 1, local": {
        "invoke": "deployer.commands.runtime:invoke",
        "local": "deployer.commands.local:local",
        "drill": "deployer.commands.local:drill",
    },
    "Stage 2, staging": {
        "loadtest": "deployer.commands.loadtest:loadtest",
        "eval": "deployer.commands.evaluate:evaluate",
    },
    "Stage 3, production": {
        "bundle": "deployer.commands.runtime:bundle",
        "synth": "deployer.commands.infra:synth",
        "diff": "deployer.commands.infra:diff",
        "deploy": "deployer.commands.infra:deploy",
    },
    "Operate (any environment)": {
        "status": "deployer.commands.ops:status",
        "rollback": "deployer.commands.ops:rollback",
        "errors": "deployer.commands.operate:errors",
        "replay": "deployer.commands.operate:replay",
        "debug": "deployer.commands.operate:debug",
        "logs": "deployer.commands.operate:logs",
        "alerts": "deployer.commands.ops:alerts",
    },
}
COMMANDS: dict[str, str] = {name: target for commands in STAGES.values() for name, target in commands.items()}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Commands grouped by stage, in the order a user meets them."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        for stage, commands in STAGES.items():
            with formatter.section(stage):
                formatter.write_dl([(name, command.get_short_help_str(limit))
                                    for name in commands if (command := self._load(name)) is not None])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command), f"{target} is not a click command"
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deployer")
def cli() -> None:
    """Take an AI agent from agent.yaml to a boring production rollout on AWS."""


class _Termination:
    """SIGTERM raises KeyboardInterrupt in the main thread, so every Ctrl-C path also runs for it."""

    received = False

    @classmethod
    def handle(cls, signum: int, frame: FrameType | None) -> None:
        cls.received = True
        raise KeyboardInterrupt

    @classmethod
    def install(cls) -> bool:
        """Only over the default action (a parent that ignores SIGTERM is obeyed) and in the main thread."""
        cls.received = False
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, cls.handle)
                return True
        except ValueError:  # not the main thread: an embedding program owns its signals
            pass
        return False

    @classmethod
    def uninstall(cls) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    @classmethod
    def exit_code(cls, code: int) -> int:
        return 128 + signal.SIGTERM if cls.received and code == 130 else code


def main(argv: list[str] | None = None) -> int:
    """Entry point: the one place that turns results and errors into exit codes."""
    installed = _Termination.install()
    try:
        return _Termination.exit_code(_run(argv))
    finally:
        if installed:
            _Termination.uninstall()


def _run(argv: list[str] | None) -> int:
    try:
        result = cli.main(args=argv, prog_name="deployer", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except DeployerError as exc:
        text = str(exc)
        if text:
            click.echo(f"error: {text}" if "\n" not in text else text, err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception:
        traceback.print_exc()
        click.echo("error: this is a bug in deployer, not in your agent or spec; please report it with the "
                   "traceback above", err=True)
        return 2
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
