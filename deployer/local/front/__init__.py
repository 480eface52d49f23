"""The emulator's front: what callers hold, and the parts the `Emulator` is composed of.

The ways in:

- `emulator`: `Emulator`, the library API (tests, scripts, `deployer local up`). It only wires
  the parts below to the pieces of `behaviour`, `bundles` and `state`, and starts and stops them.
- `control`: the JSON control API a running emulator serves on 127.0.0.1.
- `discovery`: how other processes find a running emulator and call that API.
- `deploy`: the seams other commands call (`deploy --env local`, `invoke --env local`).
- `drill`: the rollback drill, unattended.

The `Emulator`'s parts, one job each:

- `versions`: publishing a version (build, hash, publish into moto, record, warm its worker).
- `sources`: what a bundle is built from, as a hash; the project's bundle cache.
- `rollouts`: a rollout on its own thread, the alias weights, rollback (confirmed by moto).
- `alarm_wiring`: alarm transitions into the rollout, moto, the timeline and notifications.
- `recovery`: the loop that retries what failed in the background.
- `restore`: what a restart does with the saved state.
- `status`: the status view.

Only this package composes the others: `behaviour`, `bundles` and `state` know nothing of it.
"""
