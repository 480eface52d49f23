"""Serve a local environment from the emulator for the length of a load test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from deployer.compiled import DeploymentModel

if TYPE_CHECKING:
    from deployer.local import Emulator


@contextmanager
def emulated_target(model: DeploymentModel) -> Iterator[Emulator]:
    """Start the emulator, deploy the environment, yield the emulator; stop it afterwards."""
    from deployer.local import Emulator

    with Emulator() as emulator:
        emulator.deploy(model)
        yield emulator
