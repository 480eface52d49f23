"""The runtime end to end, in-process: dispatch, validation, deadlines, telemetry, policy, faults."""

from __future__ import annotations

import io
import json
import random
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from handlers.config import RuntimeConfig
from handlers.runtime import Runtime
from tests.helpers.agent_fixtures import compile_project, forget_modules, write_project


class Context:
    def __init__(self, version: str = "3", remaining_ms: int = 60_000, memory: int = 2048) -> None:
        self.aws_request_id = "lambda-request-id"
        self.function_version = version
        self.memory_limit_in_mb = memory
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


class Harness:
    def __init__(self, root: Path, *, sample_rate: float = 0.0, environ: dict[str, str] | None = None,
                 seed: int = 1) -> None:
        forget_modules()
        model = compile_project(write_project(root, sample_rate=sample_rate))
        self.stream = io.StringIO()
        self.runtime = Runtime(RuntimeConfig.from_dict(model.runtime_config()), stream=self.stream,
                               environ=environ or {}, rng=random.Random(seed))

    def post(self, action: str, body: Any = None, headers: dict[str, str] | None = None,
             context: Any = None, method: str = "POST") -> tuple[int, dict[str, Any], dict[str, Any], dict[str, Any]]:
        text = body if isinstance(body, str) else json.dumps(body if body is not None else {})
        event = {"version": "2.0", "rawPath": f"/{action}", "headers": headers or {},
                 "requestContext": {"http": {"method": method, "path": f"/{action}"}}, "body": text,
                 "isBase64Encoded": False}
        start = len(self.stream.getvalue())
        response = self.runtime.handle(event, context)
        lines = self.stream.getvalue()[start:].splitlines()
        assert len(lines) == 2, lines  # exactly one record line and one EMF line per request
        record, emf = json.loads(lines[0]), json.loads(lines[1])
        assert record["event"] == "request" and "_aws" in emf
        return response["statusCode"], json.loads(response["body"]), record, emf


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_success_answers_output_and_usage(harness: Harness) -> None:
    status, body, record, emf = harness.post("classify", {"text": "double charge"})
    assert status == 200
    assert body["output"] == {"team": "billing", "confidence": 0.9}
    usage = body["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["confidence"]) == (5, 2, 0.9)
    assert usage["cost_usd"] == pytest.approx(5 / 1000 * 0.5 + 2 / 1000 * 1.5, rel=1e-3)
    assert usage["memory_mb"] > 0 and usage["latency_ms"] > 0
    assert record["outcome"] == "ok" and record["request_id"] == body["request_id"]
    assert emf["InputTokens"] == 5 and emf["ModelConfidence"] == 0.9 and emf["Errors"] == 0


def test_pydantic_model_inputs_and_outputs(harness: Harness) -> None:
    status, body, _, _ = harness.post("triage", {"ticket": {"subject": "card lost"}})
    assert status == 200 and body["output"] == {"subject": "card lost", "body": ""}


@pytest.mark.parametrize(
    ("action", "body", "status", "error_type", "fragment"),
    [
        ("route", {}, 404, "UnknownAction", "known actions: audited, classify, echo"),
        ("echo", "{not json", 400, "BadRequest", "not valid JSON"),
        ("echo", {"txt": "a"}, 422, "ValidationError", "text: Field required; txt: unknown field"),
        ("echo", {"text": "a", "times": "many"}, 422, "ValidationError", "times: Input should be a valid integer"),
        ("echo", "[1, 2]", 422, "ValidationError", "must be a JSON object"),
        ("echo", {"text": "x" * 2000}, 413, "PayloadTooLarge", "over the 1024-byte limit"),
        ("fail", {"text": "boom"}, 500, "ValueError", "cannot handle boom"),
        ("unserializable", {}, 500, "OutputNotSerializable", "cannot be serialized"),
    ],
)
def test_bad_requests_get_precise_errors_never_tracebacks(
    harness: Harness, action: str, body: Any, status: int, error_type: str, fragment: str
) -> None:
    got, answer, record, emf = harness.post(action, body)
    assert got == status
    assert answer["error"]["type"] == error_type
    assert fragment in answer["error"]["message"]
    assert "Traceback" not in answer["error"]["message"]
    assert record["outcome"] == "error" and record["status"] == status and record["error_type"] == error_type
    assert emf["Errors"] == (1 if status >= 500 else 0) and emf["ClientErrors"] == (1 if status < 500 else 0)


def test_get_is_not_allowed(harness: Harness) -> None:
    status, body, _, _ = harness.post("echo", None, method="GET")
    assert status == 405 and "POST /echo" in body["error"]["message"]


@pytest.mark.parametrize("action", ["slow", "spin"])
def test_actions_past_their_timeout_get_504(harness: Harness, action: str) -> None:
    status, body, record, emf = harness.post(action, {"seconds": 5})
    assert status == 504 and body["error"]["type"] == "Timeout"
    assert "0.3s" in body["error"]["message"]
    assert record["latency_ms"] < 1500 and emf["Errors"] == 1


def test_timeout_is_enforced_off_the_main_thread(harness: Harness) -> None:
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(harness.post("slow", {"seconds": 5})))
    thread.start()
    thread.join(10)
    status, _, _, _ = results[0]
    assert status == 504


def test_lambda_remaining_time_caps_the_deadline(harness: Harness) -> None:
    status, _, _, _ = harness.post("slow", {"seconds": 0.2}, context=Context(remaining_ms=100))
    assert status == 504


def test_an_outer_alarm_is_restored_after_a_request(harness: Harness) -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)
        harness.post("echo", {"text": "a"})
        harness.post("slow", {"seconds": 5})
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 25.0 < remaining <= 30.0
        assert fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_context_gives_request_id_version_and_billed_memory(harness: Harness) -> None:
    _, body, record, emf = harness.post("whoami", {}, context=Context(version="12", memory=2048))
    assert body["request_id"] == "lambda-request-id" and body["version"] == "12"
    assert emf["Version"] == "12" and record["version"] == "12"
    assert body["output"]["environment"] == "local" and body["output"]["threshold"] == 0.5
    assert body["output"]["version"] == "12"  # settings.version: the version that cold-started
    _, body2, _, _ = harness.post("whoami", {}, headers={"x-request-id": "from-header"}, context=Context())
    assert body2["request_id"] == "from-header"


def test_replay_header_marks_record_and_metrics(harness: Harness) -> None:
    _, _, record, emf = harness.post("echo", {"text": "a"}, headers={"x-deployer-replay": "1"})
    assert record["replay"] is True
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Deployer/Replay"


def test_direct_invoke_events(harness: Harness) -> None:
    answer = harness.runtime.handle({"action": "echo", "input": {"text": "ab", "times": 2}, "request_id": "d-1"})
    assert answer["status"] == 200 and answer["output"] == {"text": "abab"} and answer["request_id"] == "d-1"
    error = harness.runtime.handle({"action": "echo", "input": {"text": 1}})
    assert error["status"] == 422
    unknown = harness.runtime.handle({"something": "else"})
    assert unknown["status"] == 400


def test_errors_are_recorded_with_redacted_input_even_when_sampling_is_off(harness: Harness) -> None:
    _, _, record, _ = harness.post("fail", {"text": "mail jane@example.com or 555-123-4567"})
    assert record["input"] == {"text": "mail [REDACTED:email] or [REDACTED:phone]"}
    assert record["error_message"] == "cannot handle mail [REDACTED:email] or [REDACTED:phone]"


def test_sample_rate_zero_logs_no_input_or_output(harness: Harness) -> None:
    for _ in range(50):
        _, _, record, _ = harness.post("echo", {"text": "a"})
        assert "input" not in record and "output" not in record


def test_monitor_decorator_overrides_top_level_sampling(harness: Harness) -> None:
    _, _, record, _ = harness.post("audited", {"text": "card 4111 1111 1111 1111"})
    assert record["input"] == {"text": "card [REDACTED:card_number]"}
    assert "output" not in record  # @monitor(log_outputs=False)


def test_sample_rate_keeps_about_that_share(tmp_path: Path) -> None:
    harness = Harness(tmp_path, sample_rate=0.25, seed=7)
    kept = sum("input" in harness.post("echo", {"text": "a"})[2] for _ in range(400))
    assert 70 <= kept <= 130


def test_fault_injection(tmp_path: Path) -> None:
    harness = Harness(tmp_path, environ={"DEPLOYER_FAULT_ERROR_RATE": "1", "DEPLOYER_FAULT_COST_MULTIPLIER": "10",
                                         "DEPLOYER_FAULT_LATENCY_MS": "20"})
    status, body, record, emf = harness.post("echo", {"text": "a"})
    assert status == 500 and body["error"]["type"] == "InjectedFault"
    assert record["latency_ms"] >= 20
    clean = Harness(tmp_path / "clean")
    _, _, _, clean_emf = clean.post("echo", {"text": "a"})
    assert emf["CostUSD"] > 5 * clean_emf["CostUSD"]


def test_fault_latency_counts_toward_the_timeout(tmp_path: Path) -> None:
    harness = Harness(tmp_path, environ={"DEPLOYER_FAULT_LATENCY_MS": "500"})
    assert harness.post("slow", {"seconds": 0})[0] == 504


def test_no_faults_configured_means_none(harness: Harness) -> None:
    assert harness.runtime.faults is None


def test_agent_that_cannot_load_answers_500_and_is_recorded(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    (tmp_path / "code" / "fixture_agent.py").write_text("raise RuntimeError('broken import')\n")
    forget_modules()
    status, body, record, _ = harness.post("echo", {"text": "a"})
    assert status == 500 and body["error"]["type"] == "AgentLoadError"
    assert "broken import" in body["error"]["message"] and record["outcome"] == "error"


def test_api_gateway_rest_events_with_base64_bodies(harness: Harness) -> None:
    import base64

    event = {"httpMethod": "POST", "path": "/prod/echo", "resource": "/{action}", "pathParameters": {"action": "echo"},
             "headers": {"X-Request-Id": "rest-1", "Content-Type": "application/json"},
             "requestContext": {"stage": "prod"}, "isBase64Encoded": True,
             "body": base64.b64encode(b'{"text": "hi"}').decode()}
    answer = harness.runtime.handle(event)
    assert answer["statusCode"] == 200
    body = json.loads(answer["body"])
    assert body["request_id"] == "rest-1" and body["output"] == {"text": "hi"}


def test_an_ollama_backed_agent_end_to_end(tmp_path: Path) -> None:
    import dataclasses

    from tests.helpers.model_servers import OllamaServer

    forget_modules()
    model = compile_project(write_project(tmp_path))
    with OllamaServer(lambda messages, request: "cards") as server:
        ollama = dataclasses.replace(model.model, provider="ollama", model_id="llama3.2", endpoint=server.url,
                                     retries=0)
        config = dataclasses.replace(model, model=ollama).runtime_config()
        stream = io.StringIO()
        runtime = Runtime(RuntimeConfig.from_dict(config), stream=stream, environ={})
        answer = runtime.handle({"action": "classify", "input": {"text": "my card is blocked"}})
        assert answer["status"] == 200 and answer["output"]["team"] == "cards"
        emf = json.loads(stream.getvalue().splitlines()[1])
        assert emf["InputTokens"] == 4 + 5 and emf["OutputTokens"] == 2  # two model calls, counted together
        cost = answer["usage"]["cost_usd"]
        assert cost == pytest.approx(9 / 1000 * 0.5 + 2 / 1000 * 1.5, rel=0.01)
    down = runtime.handle({"action": "classify", "input": {"text": "x"}})
    assert down["status"] == 500 and down["error"]["type"] == "ModelUnavailable"
    assert "start it with `ollama serve`" in down["error"]["message"]


def test_alarms_that_are_not_ours_reach_the_handler_we_replaced(harness: Harness) -> None:
    import time

    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        status, _, _, _ = harness.post("slow", {"seconds": 0.2})  # the outer alarm fires mid-request
        assert status == 200 and fired == [signal.SIGALRM]
        harness.post("echo", {"text": "a"})
        signal.setitimer(signal.ITIMER_REAL, 0.05)  # and after it, between requests
        time.sleep(0.2)
        assert fired == [signal.SIGALRM, signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_async_actions_run_and_time_out(harness: Harness) -> None:
    status, body, _, _ = harness.post("gather", {"texts": ["a", "b", "c"]})
    assert status == 200 and body["output"] == ["A", "B", "C"]
    status, body, _, _ = harness.post("hang", {})
    assert status == 504 and body["error"]["type"] == "Timeout"
    status, body, _, _ = harness.post("gather", {"texts": ["d"]})  # the loop of a timed-out action is gone
    assert status == 200 and body["output"] == ["D"]
