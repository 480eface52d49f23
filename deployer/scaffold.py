"""`deployer init NAME`: a new agent that validates, runs and has a passing test."""

from __future__ import annotations

import json
import re
from pathlib import Path

from deployer.errors import DeployerError

_AGENT_YAML = """\
# yaml-language-server: $schema=./agent.schema.json
# {name}: scaffolded by `deployer init`. Every field is documented in deployer's README.md
# (agent.yaml reference); your editor completes them from agent.schema.json.
name: {name}
description: A new agent. Say what it does here.

code:
  path: .
  entrypoint: {module}:{cls}
  requirements: []            # runtime packages for the Lambda bundle (keep it under 250 MB unzipped)

runtime:
  python: "3.12"              # quoted: YAML reads 3.12 as a number (and 3.10 as 3.1)
  memory_mb: 256
  timeout: 10s

model:
  provider: python            # in-process; switch to ollama, bedrock or openai when you need an LLM
  id: {module}_model:load     # module:function returning an object with predict(text)
  confidence_threshold: 0.5

actions:
  answer:
    description: Answer one question.
    timeout: 2s

monitoring:
  sample_rate: 0.1            # share of successful requests whose input and output are kept; errors always
  redaction: [email, phone, card_number, aws_key, bearer_token]

slos:                         # what `deployer loadtest` gates on, and the checklist reads
  latency_p50_ms: 50
  latency_p95_ms: 200
  latency_p99_ms: 500
  error_rate_pct: 1
  cost_per_request_usd: 0.001
  memory_max_mb: 200
  memory_growth_mb_per_10k: 16
  min_samples: 100

alerts:                       # what pages a person; they watch every version that serves traffic
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
  notify: [oncall]            # who hears how each rollout ended

environments:
  local:                      # `deployer local up`: the emulator on this machine
    target: local
    expected_traffic: {{requests_per_day: 1000}}
    load_test: {{rps: 20, duration: 10s, users: 5, input_file: data/load_inputs.jsonl}}
  staging:                    # a real AWS account; deploy while a load test runs
    region: us-east-1
    expected_traffic: {{requests_per_day: 1000}}
    load_test: {{rps: 20, duration: 2m, users: 10, input_file: data/load_inputs.jsonl}}
  production:
    region: us-east-1
    expected_traffic: {{requests_per_day: 1000}}
    rollout: {{initial_percent: 20, bake: 12h}}  # 20 % of 1,000 a day brings 100 requests in 12 hours
"""

_LOAD_INPUTS = [
    "How do I reset my password?", "Where is my order?", "Can I change my delivery address?",
    "What are your opening hours?", "How do I cancel my subscription?", "Is there a student discount?",
    "My payment failed, what now?", "Do you ship abroad?", "How long does a refund take?",
    "Can I talk to a person?", "Why was I charged twice?", "how do i update my email address",
    "The app crashes when I log in", "thanks, that solved it", "I want to close my account",
    "Where can I find my invoice?", "Can I pay by bank transfer?", "My card was declined",
    "What is your returns policy?", "hello",
]

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


def class_name(name: str) -> str:
    """`ticket-triage` -> `TicketTriageAgent`; `my-agent` -> `MyAgent` (never `MyAgentAgent`)."""
    words = [part.capitalize() for part in name.split("-") if part]
    if words[-1] != "Agent":
        words.append("Agent")
    return "".join(words)


def scaffold_agent(name: str, target: Path) -> Path:
    """Write a new agent into `target`; refuses to touch a directory that has files in it."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name):
        raise DeployerError(f"agent name {name!r} is not valid",
                            hint="use lowercase letters, digits and dashes, starting with a letter (e.g. ticket-router)")
    if target.exists() and any(target.iterdir()):
        raise DeployerError(f"{target} already exists and is not empty", hint="choose another name or --directory")
    from deployer.spec.schema import schema_json

    module = name.replace("-", "_")
    cls = class_name(name)
    files = {
        "agent.yaml": _AGENT_YAML.format(name=name, module=module, cls=cls),
        "agent.schema.json": schema_json() + "\n",
        f"{module}.py": _AGENT_PY.format(cls=cls),
        f"{module}_model.py": _MODEL_PY.format(),
        "data/load_inputs.jsonl": "".join(json.dumps({"question": q}) + "\n" for q in _LOAD_INPUTS),
        "tests/test_agent.py": _TEST_PY.format(),
    }
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def next_steps(target: Path) -> list[str]:
    """The three stages of the new agent, with the exact commands (what `deployer init` prints)."""
    spec = target / "agent.yaml"
    return [
        f"created {target}/: agent.yaml (+ agent.schema.json for your editor), the agent, its model, load-test "
        "inputs and a test",
        "",
        "Stage 1, local (no AWS account, no model server):",
        f"  deployer validate --spec {spec}",
        f"  deployer invoke answer --spec {spec} --data '{{\"question\": \"is it working?\"}}'",
        f"  python -m pytest {target}/tests",
        f"  deployer local up --spec {spec} --env local --time-scale 60     # leave it running, then:",
        f"  deployer deploy --spec {spec} --env local --wait",
        "",
        "Stage 2, staging: load-test against the SLOs (the local emulator, or staging once deployed):",
        f"  deployer loadtest --spec {spec} --env local",
        "",
        "Stage 3, production (AWS credentials, `cdk bootstrap` once per account and region):",
        f"  deployer synth --spec {spec} --env production",
        f"  deployer deploy --spec {spec} --env production --wait",
        "",
        "Where the model comes from: model.provider python calls model.id (module:function) once per",
        "execution environment with (artifacts_dir, parameters); the object it returns answers predict(text).",
    ]
