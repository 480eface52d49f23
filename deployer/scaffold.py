"""`deployer init NAME`: a new agent that validates, runs and has a passing test."""

from __future__ import annotations

import re
from pathlib import Path

from deployer.errors import DeployerError

_AGENT_YAML = """\
# yaml-language-server: $schema=https://deployer.dev/schemas/agent.schema.json
# {name}: scaffolded by `deployer init`. Reference of every field: README.md of deployer.
name: {name}
description: A new agent. Say what it does here.

code:
  path: .
  entrypoint: {module}:{cls}

runtime:
  python: "3.12"
  memory_mb: 256
  timeout: 10s

model:
  provider: python            # in-process; switch to ollama, bedrock or openai when you need an LLM
  id: {module}_model:load
  confidence_threshold: 0.5

actions:
  answer:
    description: Answer one question.
    timeout: 2s

monitoring:
  sample_rate: 0.1
  redaction: [email, phone, card_number]

slos:
  latency_p99_ms: 500
  error_rate_pct: 1
  cost_per_request_usd: 0.001
  min_samples: 100

alerts:
  error_rate_spike: {{kind: error_rate, threshold: 2, window: 60s, action: oncall}}
  latency_spike: {{kind: latency, statistic: p99, threshold: 2000, window: 60s, action: oncall}}

notifications:
  oncall:
    type: email
    addresses: [oncall@example.com]

rollout:
  strategy: canary
  initial_percent: 10
  bake: 5m
  min_requests_per_step: 100  # evidence: no promotion before the new version served 100 requests

environments:
  local:
    target: local
    expected_traffic: {{requests_per_day: 1000}}
    load_test: {{rps: 20, duration: 10s, users: 5}}
  production:
    region: us-east-1
    expected_traffic: {{requests_per_day: 1000}}
    rollout: {{initial_percent: 20, bake: 12h}}  # 20 % of 1,000 a day brings 100 requests in 12 hours
"""

_AGENT_PY = '''\
"""{cls}: the agent. Every @action becomes an endpoint: POST /ACTION with a JSON body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import StringConstraints

from handlers import AgentSettings, Model, action, agent

# Input rules live in the type hints: a request that breaks them gets a 422 that says why.
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


@dataclass
class Answer:
    text: str
    confidence: float
    escalate: bool


@agent
class {cls}:
    """`self.model` and `self.settings` come from agent.yaml; the runtime sets them."""

    model: Model
    settings: AgentSettings

    @action
    def answer(self, question: Question) -> Answer:
        result = self.model.generate(question)
        confidence = result.confidence if result.confidence is not None else 1.0
        threshold = self.settings.confidence_threshold or 0.0
        return Answer(text=str(result.output), confidence=confidence, escalate=confidence < threshold)
'''

_MODEL_PY = '''\
"""The in-process model behind `model.provider: python`. Replace it with your own."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class EchoModel:
    """Answers with the question, shouted; confident only about questions."""

    def predict(self, text: str) -> dict[str, Any]:
        return {{"output": text.upper(), "confidence": 0.9 if text.rstrip().endswith("?") else 0.4,
                "input_tokens": len(text.split()), "output_tokens": len(text.split())}}


def load(artifacts_dir: Path, parameters: dict[str, Any]) -> EchoModel:
    return EchoModel()
'''

_TEST_PY = '''\
"""Runs the agent in-process through the same runtime that ships to Lambda."""

from __future__ import annotations

from pathlib import Path

from deployer.invoke import LocalAgent

SPEC = Path(__file__).resolve().parent.parent / "agent.yaml"


def test_answer_returns_the_model_output() -> None:
    result = LocalAgent.from_spec(SPEC, "local").invoke("answer", {{"question": "is it working?"}})
    assert result.status == 200, result.body
    assert result.body["output"]["text"] == "IS IT WORKING?"
    assert result.body["output"]["escalate"] is False


def test_an_empty_question_is_rejected_with_a_precise_message() -> None:
    result = LocalAgent.from_spec(SPEC, "local").invoke("answer", {{"question": "  "}})
    assert result.status == 422
    assert "question" in result.body["error"]["message"]
'''


def scaffold_agent(name: str, target: Path) -> Path:
    """Write a new agent into `target`; refuses to touch a directory that has files in it."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name):
        raise DeployerError(f"agent name {name!r} is not valid",
                            hint="use lowercase letters, digits and dashes, starting with a letter (e.g. ticket-router)")
    if target.exists() and any(target.iterdir()):
        raise DeployerError(f"{target} already exists and is not empty", hint="choose another name or --directory")
    module = name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-")) + "Agent"
    files = {
        "agent.yaml": _AGENT_YAML.format(name=name, module=module, cls=cls),
        f"{module}.py": _AGENT_PY.format(cls=cls),
        f"{module}_model.py": _MODEL_PY.format(),
        "tests/test_agent.py": _TEST_PY.format(),
    }
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target
