"""The `deployer` command line: a thin layer over the library.

Commands are registered by name and imported only when run, so `deployer validate` never pays
for aws_cdk, moto, locust or boto3. `main()` is the one error boundary and the only place that
decides exit codes: a command returns its code (0 when it returns nothing); a `DeployerError`
prints its message and hint and exits with its `exit_code` (1 unless it says otherwise); a usage
error exits 2 (click); Ctrl-C exits 130; anything else is a bug: a traceback and exit 2.
"""

from __future__ import annotations

import importlib
import os
import traceback

# The CLI uses no pydantic plugins; discovering them scans every installed distribution at the
# first model build (~8 ms of each command's start). Set the variable to re-enable them.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import click

from deployer.errors import DeployerError

#: command name -> "module:attribute" of a click command. Each area owns its module.
COMMANDS: dict[str, str] = {
    # spec (issue: foundation)
    "validate": "deployer.commands.spec:validate",
    "plan": "deployer.commands.spec:plan",
    "schema": "deployer.commands.spec:schema",
    "init": "deployer.commands.spec:init",
    # runtime
    "invoke": "deployer.commands.runtime:invoke",
    "bundle": "deployer.commands.runtime:bundle",
    # infra
    "synth": "deployer.commands.infra:synth",
    "diff": "deployer.commands.infra:diff",
    "deploy": "deployer.commands.infra:deploy",
    # local emulator
    "local": "deployer.commands.local:local",
    "drill": "deployer.commands.local:drill",
    # staging
    "loadtest": "deployer.commands.loadtest:loadtest",
    # operations
    "status": "deployer.commands.ops:status",
    "rollback": "deployer.commands.ops:rollback",
    "errors": "deployer.commands.operate:errors",
    "replay": "deployer.commands.operate:replay",
    "debug": "deployer.commands.operate:debug",
    "logs": "deployer.commands.operate:logs",
    "alerts": "deployer.commands.ops:alerts",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._load(name) is not None)

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


def main(argv: list[str] | None = None) -> int:
    """Entry point: the one place that turns results and errors into exit codes."""
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
