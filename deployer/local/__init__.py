"""The local emulator: the agent's AWS stack on one machine, with what moto does not do.

moto (in a child process on 127.0.0.1) holds the AWS state; the emulator adds what AWS would do
with it: a gateway standing in for the Function URL that routes by alias weights to one worker
process per version, EMF metrics, CloudWatch alarm evaluation, the rollout engine with
auto-rollback, SNS deliveries and the request log. See docs/local.md.

    from deployer.local import Emulator, Faults
    with Emulator(model, time_scale=60) as emu:
        emu.deploy(); emu.invoke("route", {...}); emu.deploy(faults=Faults(error_rate=0.3))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deployer.local.bundles.release import DeployResult, Faults
    from deployer.local.front.emulator import Emulator

__all__ = ["DeployResult", "Emulator", "Faults"]


def __getattr__(name: str) -> Any:
    """Imported on first use: the emulator's child processes (the telemetry sink) import only their part."""
    if name == "Emulator":
        from deployer.local.front.emulator import Emulator

        return Emulator
    if name in ("DeployResult", "Faults"):
        from deployer.local.bundles import release

        return getattr(release, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
