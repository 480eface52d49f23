"""Serve a local environment from the emulator for the length of a load test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from deployer.compiled import DeploymentModel


@contextmanager
def emulated_target(model: DeploymentModel) -> Iterator[str]:
    """Start the emulator, deploy the environment, yield its gateway URL; stop it afterwards."""
    from deployer.local import Emulator

    with Emulator() as emulator:
        emulator.deploy(model)
        yield str(emulator.gateway_url)
