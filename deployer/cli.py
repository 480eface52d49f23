"""The `deployer` command line: a thin layer over the library.

Commands are registered by name and imported only when run, so `deployer validate` never pays
for aws_cdk, moto, locust or boto3. One error boundary: a `DeployerError` prints its message and
exits 1; a usage error exits 2 (click); anything else is a bug and prints a traceback (exit 2).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

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
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # that area is not built yet
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deployer")
def cli() -> None:
    """Take an AI agent from agent.yaml to a boring production rollout on AWS."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point: the one place that turns errors into exit codes."""
    try:
        return cli.main(args=argv, prog_name="deployer", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DeployerError as exc:
        click.echo(f"error: {exc}" if "\n" not in str(exc) else str(exc), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
