"""Where the emulator's state lives: moto, the request log, and the emulator's own record.

- `moto_state`: moto's server in a child process, and the one boto3 code that writes to it.
- `sink`: the telemetry sink process that writes request records and metrics into moto.
- `recorder`: request log lines -> items of the request-log table (moto DynamoDB).
- `store`: what moto cannot hold (versions and their bundles, weights, the rollout, the
  timeline), persisted in `state.json` so that a restart never leaves a half-shifted alias.
- `event_log`: the timeline as structlog JSON lines (`events.log`) and a console.
- `serde`: `DeploymentModel.to_dict()` back to a model (the control API, saved versions).
"""
