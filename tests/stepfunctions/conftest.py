"""One synth for the tier: a compiled spec whose state machine every scenario executes.

The spec goes through the loader and the compiler like a user's; only the Lambda bundle is a stub
(the tier executes the rollout, not the agent).
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deployer.compiled import DeploymentModel
from deployer.compiler import compile_environment
from deployer.naming import stack_name
from deployer.spec import load_spec
from deployer.synth import SynthTarget, synth
from tests.stepfunctions.scenarios import STABLE

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

SPEC = """\
name: canary-agent
code: {entrypoint: agent:Agent}
model: {provider: python, id: model:load, confidence_threshold: 0.5}
actions: {route: {}}
notifications:
  oncall: {type: email, addresses: [oncall@example.com]}
rollout:
  strategy: steps
  steps: [{percent: 5, bake: 5m}, {percent: 50, bake: 5m}, {percent: 100}]
  abort: {error_rate_pct: 2}
  min_requests_per_step: 100
  notify: [oncall]
evaluation:
  data: eval.jsonl
  score: {kind: label, field: team}
  online: {field: team, labels: [cards, transfers, fraud], low_confidence: true, min_samples: 50}
environments:
  staging: {region: us-east-1, account: "123456789012"}
"""


@pytest.fixture(scope="session")
def rollout_stack(tmp_path_factory: pytest.TempPathFactory) -> tuple[DeploymentModel, dict[str, Any]]:
    """(the compiled model, its synthesized template)."""
    root = tmp_path_factory.mktemp("canary-agent")
    (root / "agent.yaml").write_text(textwrap.dedent(SPEC), encoding="utf-8")
    model = compile_environment(load_spec(root / "agent.yaml"), "staging")
    bundle = root / "bundle"
    (bundle / "handlers").mkdir(parents=True)
    (bundle / "handlers" / "__init__.py").write_text("")
    (bundle / "handlers" / "runtime.py").write_text("def handler(event, context):\n    return {}\n")
    (bundle / "handlers" / "recorder.py").write_text("def handler(event, context):\n    return {}\n")
    result = synth([SynthTarget(model, str(bundle), STABLE)], out_dir=root / "cdk.out")
    template = json.loads(Path(result.templates[stack_name(model)]).read_text())
    return model, template
