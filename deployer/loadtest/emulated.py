"""Serve a local environment from the emulator for the length of a load test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from deployer.compiled import DeploymentModel
from deployer.loadtest.plan import LoadTestUsageError


@contextmanager
def emulated_target(model: DeploymentModel) -> Iterator[str]:
    """Start the emulator, deploy the environment, yield its gateway URL; stop it afterwards."""
    try:
        from deployer.local import Emulator
    except ImportError as exc:
        raise LoadTestUsageError(
            f"environment {model.environment!r} runs on the local emulator, which is not available here",
            hint="start it with `deployer local` and pass --target URL") from exc
    with Emulator() as emulator:
        emulator.deploy(model)
        yield str(emulator.gateway_url)
