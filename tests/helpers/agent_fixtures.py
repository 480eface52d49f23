"""A small agent project written to a temp directory, compiled through the real spec pipeline.

Used by the runtime, invoke and bundle tests (tests/unit/test_handlers_*, tests/functional/
test_runtime_*, test_bundle_*).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

AGENT_MODULE = "fixture_agent"
MODEL_MODULE = "fixture_model"

AGENT_SOURCE = '''\
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from handlers import action, agent, monitor


@dataclass
class Decision:
    team: str
    confidence: float


class Ticket(BaseModel):
    subject: str
    body: str = ""


@agent
class FixtureAgent:
    def __init__(self) -> None:
        self.started_with = self.settings.environment
        self.calls = 0

    @action
    def echo(self, text: str, times: int = 1) -> dict[str, str]:
        self.calls += 1
        return {"text": text * times}

    @action
    def classify(self, text: str) -> Decision:
        first = self.model.generate(text)
        second = self.model.generate(text + " again")
        return Decision(team=first.text, confidence=min(first.confidence or 0, second.confidence or 0))

    @action
    def triage(self, ticket: Ticket) -> Ticket:
        return ticket

    @action
    def fail(self, text: str) -> str:
        raise ValueError(f"cannot handle {text}")

    @action
    def slow(self, seconds: float) -> str:
        time.sleep(seconds)
        return "done"

    @action
    def spin(self, seconds: float) -> int:
        end = time.monotonic() + seconds
        n = 0
        while time.monotonic() < end:
            n += 1
        return n

    @action(name="whoami")
    def who_am_i(self) -> dict[str, Any]:
        return {"environment": self.settings.environment, "version": self.settings.version,
                "artifacts": str(self.settings.artifacts_dir), "threshold": self.settings.confidence_threshold}

    @action
    @monitor(sample_rate=1.0, log_outputs=False)
    def audited(self, text: str) -> str:
        return text.upper()

    @action
    def unserializable(self) -> object:
        return object()

    @action
    async def gather(self, texts: list[str]) -> list[str]:
        import asyncio

        async def one(text: str) -> str:
            await asyncio.sleep(0.01)
            return text.upper()

        return list(await asyncio.gather(*(one(t) for t in texts)))

    @action
    async def hang(self) -> str:
        import asyncio

        await asyncio.sleep(10)
        return "never"
'''

MODEL_SOURCE = '''\
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class KeywordModel:
    def __init__(self, keywords: dict[str, str]) -> None:
        self.keywords = keywords

    def predict(self, text: str) -> dict[str, Any]:
        team = next((t for k, t in self.keywords.items() if k in text), "general")
        return {"text": team, "input_tokens": len(text.split()), "output_tokens": 1,
                "confidence": 0.9 if team != "general" else 0.4}


def load(artifacts_dir: Path, parameters: dict[str, Any]) -> KeywordModel:
    return KeywordModel(json.loads((artifacts_dir / "model" / "keywords.json").read_text()))
'''

SPEC = """\
name: fixture-agent
description: The runtime test agent.
code:
  path: code
  entrypoint: fixture_agent:FixtureAgent
  artifacts: [model/keywords.json]
runtime:
  python: "{python}"
  memory_mb: 1024
  timeout: 10s
model:
  provider: python
  id: fixture_model:load
  confidence_threshold: 0.5
  pricing: {{input_per_1k: 0.5, output_per_1k: 1.5}}
actions:
  echo: {{timeout: 2s, max_payload_kb: 1}}
  classify: {{timeout: 2s}}
  triage: {{timeout: 2s}}
  fail: {{timeout: 2s}}
  slow: {{timeout: 300ms}}
  spin: {{timeout: 300ms}}
  whoami: {{timeout: 2s}}
  audited: {{timeout: 2s}}
  unserializable: {{timeout: 2s}}
  gather: {{timeout: 2s}}
  hang: {{timeout: 300ms}}
monitoring:
  sample_rate: {sample_rate}
  redaction: [email, phone, card_number]
slos:
  latency_p99_ms: 500
  error_rate_pct: 1
  min_samples: 100
alerts:
  error_rate_spike: {{kind: error_rate, threshold: 2, window: 60s, action: oncall}}
notifications:
  oncall:
    type: email
    addresses: [oncall@example.com]
rollout:
  strategy: canary
  initial_percent: 10
  bake: 5m
environments:
  local:
    target: local
    expected_traffic: {{requests_per_day: 1000}}
    load_test: {{rps: 20, duration: 10s, users: 5}}
"""


def write_project(root: Path, *, sample_rate: float = 0.0, python: str = "3.12") -> Path:
    """Write the fixture project under `root`; return its agent.yaml."""
    code = root / "code"
    (code / "model").mkdir(parents=True, exist_ok=True)
    (code / f"{AGENT_MODULE}.py").write_text(AGENT_SOURCE)
    (code / f"{MODEL_MODULE}.py").write_text(MODEL_SOURCE)
    (code / "model" / "keywords.json").write_text('{"charge": "billing", "card": "cards"}')
    (code / "notes.txt").write_text("not shipped")
    spec = root / "agent.yaml"
    spec.write_text(SPEC.format(sample_rate=sample_rate, python=python))
    return spec


def compile_project(spec: Path, environment: str = "local") -> Any:
    from deployer.compiler import compile_environment
    from deployer.spec import load_spec

    return compile_environment(load_spec(spec), environment)


def forget_modules() -> None:
    """Drop the fixture modules so the next runtime imports them from its own code root."""
    for name in (AGENT_MODULE, MODEL_MODULE):
        sys.modules.pop(name, None)
