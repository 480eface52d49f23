"""What a restart does with the saved state: never a silent, half-shifted alias.

moto starts empty, so every saved version is published into it again (same numbers, same order).
A rollout the emulator stopped during is then ended *explicitly*, as `on_restart` says:
"rollback" (the default) puts all traffic back on the stable version and notifies the rollout's
targets; "resume" goes on from the step it was at. Otherwise the alias gets its saved weights back.
Either way the alarms watch the version that serves, and a notice says what happened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.local.behaviour.clock import Clock
from deployer.local.behaviour.notify import Notifier
from deployer.local.behaviour.rollout import RolloutState
from deployer.local.front.alarm_wiring import AlarmWiring
from deployer.local.front.rollouts import RolloutControl
from deployer.local.state.moto_state import AwsState
from deployer.local.state.store import StateStore, load_state

RestartPolicy = Literal["rollback", "resume"]


def restore(store: StateStore, *, model: DeploymentModel, aws: AwsState, rollouts: RolloutControl,
            alarms: AlarmWiring, notifier: Notifier, clock: Clock, on_restart: RestartPolicy) -> str | None:
    """Load the saved state of `model`'s agent and environment into `store` and moto.

    Returns the restart notice when a rollout was interrupted (None otherwise).
    """
    saved = load_state(store.state_dir)
    if saved is None or (saved.agent, saved.environment) != (model.agent, model.environment):
        store.persist()
        return None
    store.state = saved
    for record in saved.versions:
        number = aws.publish_version(Path(record.bundle_dir), record.environment, record.description)
        if number != record.version:
            raise DeployerError(f"restoring version {record.version} into moto gave version {number}",
                                hint=f"remove {store.state_dir} to start from scratch")
    notice: str | None = None
    rollout = RolloutState.from_dict(saved.rollout) if saved.rollout else None
    if rollout is not None and rollout.status == "in_progress":
        where = rollout.describe_step()
        if on_restart == "resume" and rollout.stable_version is not None:
            notice = (f"the emulator stopped during the rollout of version {rollout.version} "
                      f"({where}); resuming it from that step")
            store.event("restart", notice, version=rollout.version)
            rollouts.resume(rollout, saved.primary, saved.additional)
            return notice
        stable = rollout.stable_version or rollout.version
        rollout.status, rollout.percent, rollout.finished_at = "rolled_back", 0.0, clock.now()
        rollout.reason = (f"the emulator stopped during the rollout of version {rollout.version} ({where}); "
                          f"rolled back to version {stable} on restart")
        notice = rollout.reason
        store.state.rollout = rollout.to_dict()
        store.event("restart", rollout.reason, version=rollout.version, stable_version=stable)
        rollouts.apply_weights(stable, {})
        notifier.notify(model.rollout.notify, event="rollout", subject=f"Rollout of version "
                        f"{rollout.version} rolled back on restart", message=rollout.reason,
                        version=rollout.version, stable_version=stable, state="ROLLED_BACK")
    elif saved.primary is not None:
        store.event("restart", f"emulator restarted; alias {model.alias} -> version {saved.primary}"
                    + (f" + {saved.additional}" if saved.additional else ""))
        rollouts.apply_weights(saved.primary, saved.additional)
    if store.state.primary is not None:
        alarms.watch(store.state.primary, "emulator restarted")
    store.persist()
    return notice
