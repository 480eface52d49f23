"""Provisioned concurrency: init loads everything, so the first request does what the second does.

A fresh interpreter stands in for a Lambda environment: the runtime is created and warmed as
`_initialize` does under provisioned concurrency, then a first request is served. It imports
nothing: the agent, its model, the validators and pydantic-core's serializer set-up (which
imports uuid on first use) were all done during init.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from deployer.compiler import compile_environment
from deployer.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
SPEC = f"""\
name: plain-agent
code: {{path: code, entrypoint: plain_agent:Plain}}
runtime: {{python: "{PY}", timeout: 10s}}
model: {{provider: python, id: plain_agent:load}}
actions: {{echo: {{timeout: 2s}}}}
monitoring: {{sample_rate: 1.0, redaction: [email, phone]}}
environments:
  local: {{target: local}}
"""
AGENT = """\
from handlers import action, agent


class Fixed:
    def predict(self, text):
        return {"text": text}


def load(artifacts_dir, parameters=None):
    return Fixed()


@agent
class Plain:
    @action
    def echo(self, text: str, times: int = 1) -> dict[str, str]:
        return {"echo": text * times}
"""
PROBE = """\
import io, json, sys
sys.path.insert(0, sys.argv[1])
from handlers.config import RuntimeConfig
from handlers.runtime import Runtime
runtime = Runtime(RuntimeConfig.from_dict(json.loads(sys.argv[2])), stream=io.StringIO(), environ={})
if sys.argv[3] == "warm":
    assert runtime.warm() is None
before = set(sys.modules)
event = {"action": "echo", "input": {"text": "hi"}}
first = runtime.handle(event)
print(json.dumps({"status": first["status"], "new": sorted(set(sys.modules) - before)}))
"""


def _first_request(tmp_path: Path, mode: str) -> dict[str, object]:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "plain_agent.py").write_text(AGENT)
    (tmp_path / "agent.yaml").write_text(SPEC)
    config = compile_environment(load_spec(tmp_path / "agent.yaml"), "local").runtime_config()
    out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT), json.dumps(config), mode], capture_output=True,
                         text=True, check=True, cwd=tmp_path)
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_after_init_the_first_request_imports_nothing(tmp_path: Path) -> None:
    assert _first_request(tmp_path, "warm") == {"status": 200, "new": []}


def test_on_demand_the_first_request_loads_the_agent_with_pydantic_core_only(tmp_path: Path) -> None:
    first = _first_request(tmp_path, "cold")
    assert first["status"] == 200
    new = first["new"]
    assert isinstance(new, list) and "plain_agent" in new and "pydantic_core" in new
    assert "pydantic" not in new
