"""One synth per test session: every stack the infra tests look at is in one app.

The app holds hand-built models (both rollout engines, every CodeDeploy shape, every
notification kind) and the compiled AWS environments of the root agent.yaml and of every
samples/*/agent.yaml. Bundles are a stub directory: the infra tier checks the templates, not the
bundle (the functional deploy test uses the real bundle).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployer.compiled import DeploymentModel
from deployer.compiler.rollout import plan_rollout
from deployer.synth import SynthResult, SynthTarget, aws_models, synth
from tests.infra.models import model

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
ROOT = Path(__file__).resolve().parents[2]
STABLE_VERSION = "7"


def codedeploy_model(agent: str, kind: str, percentage: int, minutes: int) -> DeploymentModel:
    """A model whose schedule CodeDeploy runs (no evidence required), planned by the compiler."""
    base = model(agent=agent, engine="codedeploy")
    schedule = [(100.0, 0)] if kind == "all_at_once" else [
        (float(percentage * i), minutes * 60) for i in range(1, 100 // percentage)] + [(100.0, 0)]
    gating = [a for a in base.alarms if a.gates_rollout]
    rollout = plan_rollout(schedule, gating, min_requests=0, strategy=kind, prefix=agent, notify=base.rollout.notify)
    assert rollout.codedeploy is not None and rollout.codedeploy.kind == kind
    return dataclasses.replace(base, rollout=rollout)


def hand_models() -> dict[str, tuple[DeploymentModel, str | None]]:
    """name -> (model, stable version)."""
    return {
        "steps": (model(agent="steps-agent"), STABLE_VERSION),
        "first": (model(agent="first-agent", function=dataclasses.replace(
            model().function, name="first-agent-staging", provisioned_concurrency=None,
            reserved_concurrency=None, tracing=False, architecture="arm64")), None),
        "canary": (model(agent="canary-agent", engine="codedeploy"), None),
        "linear": (codedeploy_model("linear-agent", "linear", 20, 2), None),
        "all_at_once": (codedeploy_model("all-agent", "all_at_once", 100, 0), None),
        # Same function and code; only the stack and (for the third) the spec hash differ.
        "config_a": (config_model("config-a", "a" * 16), None),
        "config_a_again": (config_model("config-b", "a" * 16), None),
        "config_changed": (config_model("config-c", "b" * 16), None),
    }


def config_model(agent: str, spec_hash: str) -> DeploymentModel:
    base = model(agent=agent, engine="codedeploy")
    return dataclasses.replace(base, spec_hash=spec_hash,
                               function=dataclasses.replace(base.function, name="config-agent-staging"))


def spec_models() -> list[DeploymentModel]:
    specs = [ROOT / "agent.yaml", *sorted(ROOT.glob("samples/*/agent.yaml"))]
    return [m for spec in specs if spec.exists() for m in aws_models(spec)]


@dataclasses.dataclass
class Synthesized:
    result: SynthResult
    models: dict[str, DeploymentModel]  # stack name -> model
    hand: dict[str, str]  # hand model name -> stack name

    def template_json(self, stack: str) -> dict[str, object]:
        return json.loads(self.result.templates[stack].read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def stub_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("bundle")
    (bundle / "handlers").mkdir()
    (bundle / "handlers" / "__init__.py").write_text("")
    (bundle / "handlers" / "runtime.py").write_text("def handler(event, context):\n    return {}\n")
    (bundle / "handlers" / "recorder.py").write_text("def handler(event, context):\n    return {}\n")
    return bundle


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory, stub_bundle: Path) -> Iterator[Synthesized]:
    from deployer.naming import stack_name

    targets: list[SynthTarget] = []
    hand: dict[str, str] = {}
    for name, (m, stable) in hand_models().items():
        targets.append(SynthTarget(m, str(stub_bundle), stable))
        hand[name] = stack_name(m)
    targets += [SynthTarget(m, str(stub_bundle)) for m in spec_models()]
    result = synth(targets, out_dir=tmp_path_factory.mktemp("cdk") / "cdk.out")
    yield Synthesized(result, {stack_name(t.model): t.model for t in targets}, hand)


@pytest.fixture(scope="session")
def templates(synthesized: Synthesized) -> dict[str, object]:
    from aws_cdk.assertions import Template

    return {name: Template.from_json(synthesized.template_json(name)) for name in synthesized.result.templates}
