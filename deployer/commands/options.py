"""Options shared by every command, so they read the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])

spec_option: Callable[[F], F] = click.option(
    "--spec", "-f", "spec_path", default="agent.yaml", show_default=True,
    type=click.Path(dir_okay=False), help="the agent spec file",
)
json_option: Callable[[F], F] = click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")


def env_option(required: bool = True) -> Callable[[F], F]:
    return click.option("--env", "-e", "env", required=required, help="the environment in agent.yaml")
