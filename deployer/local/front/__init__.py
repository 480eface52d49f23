"""The emulator's front: what callers hold.

- `emulator`: `Emulator`, the library API (tests, scripts, `deployer local up`).
- `control`: the JSON control API a running emulator serves on 127.0.0.1, and how other
  processes find a running emulator and call it.
- `deploy`: the seams other commands call (`deploy --env local`, `invoke --env local`).
- `drill`: the rollback drill, unattended.
"""
