"""Seams for other commands: deploy into, and invoke through, a running local emulator.

- `deploy_local(model, spec_path=...)`: what `deployer deploy --env <local target>` calls. The
  running emulator (found through `<spec dir>/.deployer/local/emulator.json`) builds the bundle,
  publishes a new version when code or configuration changed, and starts the rollout the spec's
  policy describes. With `wait=True` it returns when the rollout has finished.
- `invoke_local(...)`: one request through the emulator's gateway (what `deployer invoke --env
  local` can use when an emulator is running); None when none is running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.local.front.discovery import find_emulator, require_emulator, state_dir_for
from deployer.ops.replay import call_gateway


def deploy_local(
    model: DeploymentModel,
    *,
    spec_path: str | Path | None = None,
    faults: dict[str, float] | None = None,
    wait: bool = False,
    timeout_s: float = 600.0,
    description: str = "",
    **_options: Any,
) -> dict[str, Any]:
    """Deploy `model` into the running emulator; returns version, created, message and rollout."""
    if model.target != "local":
        raise DeployerError(f"environment {model.environment} targets {model.target}, not the local emulator")
    client = require_emulator(state_dir_for(spec_path or model.spec_file))
    running = (client.endpoints.get("agent"), client.endpoints.get("environment"))
    if running != (model.agent, model.environment):
        raise DeployerError(f"the running emulator serves {running[0]}/{running[1]}, not {model.agent}/{model.environment}",
                            hint=f"restart it with `deployer local up --env {model.environment}`")
    body = {"model": model.to_dict(), "faults": faults or {}, "wait": wait, "description": description}
    return dict(client.post("/deploy", body, timeout_s=timeout_s if wait else 120.0))


def invoke_local(
    action: str,
    body: str | bytes,
    *,
    spec_path: str | Path | None = None,
    replay: bool = False,
    version: str | None = None,
    timeout_s: float = 60.0,
) -> dict[str, Any] | None:
    """POST one request to the running emulator's gateway; None when no emulator is running."""
    found = find_emulator(state_dir_for(spec_path))
    if found is None:
        return None
    data = body.encode() if isinstance(body, str) else body
    reply = call_gateway(found["gateway_url"], action, data, replay=replay, version=version, timeout_s=timeout_s)
    return {**reply.to_dict(), "gateway_url": found["gateway_url"]}
