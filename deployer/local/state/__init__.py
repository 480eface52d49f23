"""Where the emulator's state lives: moto, the request log, and the emulator's own record.

- `moto_state`: moto's server in a child process, and the one boto3 code that writes to it.
- `moto_server`: that child process (run by path), with a bulk loader beside moto's HTTP API.
- `sink`: the telemetry sink process that keeps the request log and feeds moto's loader.
- `request_log`: request records -> items (the AWS recorder's rules, one bad record alone), a
  journal on disk that survives a restart, bounded; deploy records kept for good.
- `store`: what moto cannot hold (versions and their bundles, weights, the rollout, the
  timeline), persisted in `state.json` so that a restart never leaves a half-shifted alias.
- `health`: what is failing now in the background, said once and retried until it works.
- `event_log`: the timeline as structlog JSON lines (`events.log`) and a console.
- `serde`: `DeploymentModel.to_dict()` back to a model (the control API, saved versions).
"""
