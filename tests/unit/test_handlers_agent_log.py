"""`self.log`: JSON lines on the runtime's stream, bound to the request; no structlog unless used."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from deployer.invoke import LocalAgent, function_url_event
from handlers import agent, agent_log, instantiate
from handlers.config import RuntimeConfig
from handlers.runtime import Runtime
from handlers.sdk import AgentSettings
from tests.helpers.agent_fixtures import AGENT_MODULE, compile_project, forget_modules, write_project

REPO = Path(__file__).resolve().parents[2]
LOGGING_ECHO = 'self.calls += 1\n        self.log.info("echoed", chars=len(text), team="cards")'


def write_logging_project(root: Path) -> Path:
    spec = write_project(root)
    source = root / "code" / f"{AGENT_MODULE}.py"
    source.write_text(source.read_text().replace("self.calls += 1", LOGGING_ECHO, 1))
    return spec


@pytest.fixture(autouse=True)
def fresh_log_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts as a process where no agent has logged yet."""
    monkeypatch.setattr(agent_log, "active", False)
    monkeypatch.setattr(agent_log, "_structlog_bound", False)
    forget_modules()
    yield
    forget_modules()


def runtime_for(spec: Path) -> tuple[Runtime, io.StringIO]:
    stream = io.StringIO()
    model = compile_project(spec)
    return Runtime(RuntimeConfig.from_dict(model.runtime_config()), stream=stream, environ={}), stream


def request(runtime: Runtime, action: str, data: dict[str, Any], request_id: str) -> int:
    event = function_url_event(action, json.dumps(data), {"content-type": "application/json", "x-request-id": request_id})
    status: int = runtime.handle(event)["statusCode"]
    return status


def agent_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if "message" in line]  # not the request record ("event") nor EMF ("_aws")


def test_a_log_call_writes_a_json_line_bound_to_its_request(tmp_path: Path) -> None:
    runtime, stream = runtime_for(write_logging_project(tmp_path))
    assert request(runtime, "echo", {"text": "abc"}, "req-1") == 200  # the logger is created during this request
    assert request(runtime, "echo", {"text": "abcdef"}, "req-2") == 200
    first, second = agent_lines(stream)
    assert (first["message"], first["team"], first["chars"], first["level"]) == ("echoed", "cards", 3, "info")
    assert (first["request_id"], first["action"], first["version"]) == ("req-1", "echo", "$LATEST")
    assert (first["agent"], first["environment"]) == ("fixture-agent", "local")
    assert (second["request_id"], second["chars"]) == ("req-2", 6)
    assert "timestamp" in first and "event" not in first  # never taken for a request record


def test_the_request_binding_is_removed_after_the_request(tmp_path: Path) -> None:
    runtime, _ = runtime_for(write_logging_project(tmp_path))
    request(runtime, "echo", {"text": "abc"}, "req-1")
    request(runtime, "echo", {"text": "abc"}, "req-2")
    assert "request_id" not in structlog.contextvars.get_contextvars()
    assert agent_log._REQUEST.get() is None


def test_lines_from_an_action_run_off_the_main_thread_are_bound_too(tmp_path: Path) -> None:
    runtime, stream = runtime_for(write_logging_project(tmp_path))
    statuses: list[int] = []  # off the main thread the action runs in a copy of the context (deadline thread)
    thread = threading.Thread(target=lambda: statuses.append(request(runtime, "echo", {"text": "ab"}, "req-t")))
    thread.start()
    thread.join(10)
    assert statuses == [200] and request(runtime, "echo", {"text": "abc"}, "req-main") == 200
    assert [line["request_id"] for line in agent_lines(stream)] == ["req-t", "req-main"]
    assert "request_id" not in structlog.contextvars.get_contextvars()


def test_local_agent_still_finds_the_request_record_among_agent_lines(tmp_path: Path) -> None:
    local = LocalAgent(compile_project(write_logging_project(tmp_path)))
    result = local.invoke("echo", {"text": "abc"}, request_id="req-9")
    assert result.record["event"] == "request" and result.record["request_id"] == "req-9"


def test_outside_the_runtime_self_log_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    @agent
    class Notebook:
        def hello(self) -> None:
            self.log.info("hello", n=1)  # type: ignore[attr-defined]

    Notebook().hello()
    instantiate(Notebook, settings=AgentSettings(agent="router", environment="dev")).hello()
    plain, bound = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert (plain["message"], plain["n"], plain["agent"]) == ("hello", 1, "agent")
    assert (bound["agent"], bound["environment"]) == ("router", "dev") and "request_id" not in bound


def test_instantiating_an_agent_that_logs_asks_the_runtime_to_bind_requests() -> None:
    @agent
    class Quiet:
        def run(self) -> int:
            return 1

    @agent
    class Chatty:
        log: Any  # what an agent declares for type checkers (no value: the SDK provides it)

        def run(self) -> None:
            def helper() -> None:  # nested code is seen too
                self.log.info("x")

            helper()

    instantiate(Quiet)
    assert agent_log.active is False
    instantiate(Chatty)
    assert agent_log.active is True


SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from tests.helpers.agent_fixtures import compile_project
from deployer.invoke import LocalAgent
result = LocalAgent(compile_project(Path(sys.argv[2]))).invoke("echo", {"text": "abc"})
import handlers.agent_log
print(json.dumps({"status": result.status, "structlog": "structlog" in sys.modules,
                  "active": handlers.agent_log.active}))
"""


def run_in_fresh_process(spec: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO), str(spec)], check=True, capture_output=True,
                         text=True, cwd=spec.parent, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def test_an_agent_that_never_logs_does_not_import_structlog(tmp_path: Path) -> None:
    quiet = run_in_fresh_process(write_project(tmp_path / "quiet"))
    assert quiet == {"status": 200, "structlog": False, "active": False}
    chatty = run_in_fresh_process(write_logging_project(tmp_path / "chatty"))  # the check can see an import
    assert chatty == {"status": 200, "structlog": True, "active": True}


def test_a_logger_reached_without_a_log_attribute_in_the_code_is_bound_from_the_next_request(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_project(tmp_path)
    source = tmp_path / "code" / f"{AGENT_MODULE}.py"
    source.write_text(source.read_text().replace(
        "self.calls += 1", 'self.calls += 1\n        getattr(self, "lo" + "g").info("echoed")', 1))
    runtime, stream = runtime_for(spec)
    assert request(runtime, "echo", {"text": "a"}, "req-1") == 200  # the runtime did not know: stdout, unbound
    assert request(runtime, "echo", {"text": "a"}, "req-2") == 200
    unbound = json.loads(capsys.readouterr().out)
    assert unbound["message"] == "echoed" and "request_id" not in unbound
    assert [line["request_id"] for line in agent_lines(stream)] == ["req-2"]
