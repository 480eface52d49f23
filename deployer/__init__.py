"""deployer: from agent.yaml to a boring production rollout on AWS.

One pipeline, and side effects only at its end::

    agent.yaml --load--> AgentSpec --compile(env)--> DeploymentModel --> synth | emulate | loadtest | operate

- `deployer.spec` is the only code that reads YAML (`load_spec`); it keeps positions so every
  problem is reported as ``agent.yaml:LINE:COL: path: message``.
- `deployer.compiler.compile_environment` is pure: no I/O, no AWS. It resolves defaults and
  cross-field rules and returns a frozen `deployer.compiled.DeploymentModel`.
- Backends read the `DeploymentModel`: `infra/` (CDK), `deployer.local` (emulator),
  `deployer.loadtest` (locust + SLO gate), `deployer.ops` (status, errors, replay, rollback).
"""

from __future__ import annotations

__version__ = "0.1.0"
