"""What a restart does with the saved state: never a silent, half-shifted alias.

moto starts empty, so every saved version is published into it again (same numbers, same order).
A rollout the emulator stopped during is then ended *explicitly*, as `on_restart` says:
"rollback" (the default) puts all traffic back on the stable version and notifies the rollout's
targets; "resume" goes on from the step it was at. Otherwise the alias gets its saved weights back.
Either way the alarms watch the version that serves, and a notice says what happened.

The saved state is never dropped on the quiet: a state file that cannot be read, one that belongs
to another agent or environment, or a state directory that cannot be written stops the start with
a message naming the file and what to do. (The request log and the deploy records come back into
moto through the telemetry sink, from `<state dir>/request-log/`.)
"""

from __future__ import annotations

from dataclasses import replace
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
from deployer.local.state.sink import TelemetrySink
from deployer.local.state.store import STATE_FILE, StateStore, load_state
from deployer.ops.records import deploy_record_item

RestartPolicy = Literal["rollback", "resume"]


def restore(store: StateStore, *, model: DeploymentModel, aws: AwsState, rollouts: RolloutControl,
            alarms: AlarmWiring, notifier: Notifier, sink: TelemetrySink, clock: Clock,
            on_restart: RestartPolicy) -> str | None:
    """Load the saved state of `model`'s agent and environment into `store` and moto.

    Returns the restart notice when a rollout was interrupted (None otherwise).
    """
    saved = load_state(store.state_dir)
    if saved is None:
        store.persist_or_fail()
        return None
    if (saved.agent, saved.environment) != (model.agent, model.environment):
        path = store.state_dir / STATE_FILE
        raise DeployerError(f"{path} holds the emulator state of {saved.agent}/{saved.environment}, not "
                            f"{model.agent}/{model.environment}; the emulator does not replace it",
                            hint=f"start the emulator for {saved.agent}/{saved.environment}, or give this one its own "
                                 f"state directory (DEPLOYER_LOCAL_DIR=...), or move {store.state_dir} aside")
    store.state = saved
    store.persist_or_fail()  # a state directory that cannot be written is said now, not at the first shift
    for record in saved.versions:
        number = aws.publish_version(Path(record.bundle_dir), record.environment, record.description,
                                     code_hash=record.code_hash)
        if number != record.version:
            raise DeployerError(f"restoring version {record.version} into moto gave version {number}",
                                hint=f"remove {store.state_dir} to start from scratch")
        # the request log's journal has the deploy record; a state from before it had one gets it now
        sink.add_item(deploy_record_item(replace(model, spec_hash=record.spec_hash), record.version,
                                         record.code_hash, record.model, faults=record.faults,
                                         now_ms=int(record.created_at * 1000)), unless_kept=True)
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
