"""Model providers against real local servers speaking their protocols; Bedrock with Stubber."""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from handlers.providers import ModelRateLimited, ModelResponseError, ModelServerError, ModelTimeout, build_provider
from handlers.providers.base import ModelUnavailable
from handlers.providers.bedrock import BedrockProvider
from handlers.providers.ollama import OllamaProvider
from handlers.providers.openai_chat import OpenAIProvider
from handlers.providers.secrets import clear_cache
from handlers.usage import CURRENT_USAGE, ActionTimeout, RequestUsage
from tests.helpers.model_servers import Hangup, Malformed, OllamaServer, OpenAIServer, Slow, Status, Text
from tests.helpers.moto_server import moto_server


@pytest.fixture
def ollama() -> Iterator[OllamaServer]:
    with OllamaServer(models=("llama3.2",)) as server:
        yield server


@pytest.fixture
def openai() -> Iterator[OpenAIServer]:
    with OpenAIServer(api_key="sk-test") as server:
        yield server


def fast(provider_cls: type, **kwargs: object) -> object:
    defaults = dict(timeout_s=2.0, retries=2, backoff_base_s=0.01, backoff_max_s=0.05, rng=random.Random(0))
    return provider_cls(**{**defaults, **kwargs})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- ollama -------------------------------------------------------------------------------


def test_ollama_chat_returns_text_and_token_counts(ollama: OllamaServer) -> None:
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2", parameters={"temperature": 0.1, "max_tokens": 20})
    result = provider.generate("route this message please", system="you route")  # type: ignore[attr-defined]
    assert result.text == "route this message please"
    assert result.input_tokens == 6 and result.output_tokens == 4  # "you route" + the prompt
    sent = ollama.requests[-1].body
    assert sent["stream"] is False and sent["options"] == {"temperature": 0.1, "num_predict": 20}
    assert sent["messages"][0] == {"role": "system", "content": "you route"}


def test_ollama_structured_output_and_confidence(ollama: OllamaServer) -> None:
    ollama.script(Text('{"team": "cards", "confidence": 0.82}'))
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2")
    result = provider.generate("x", format="json")  # type: ignore[attr-defined]
    assert result.output == {"team": "cards", "confidence": 0.82} and result.confidence == 0.82
    assert ollama.requests[-1].body["format"] == "json"


def test_ollama_retries_429_and_500_then_succeeds(ollama: OllamaServer) -> None:
    ollama.script(Status(429, "slow down", retry_after=0), Status(500, "oops"))
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2", retries=2)
    assert provider.generate("hi").text == "hi"  # type: ignore[attr-defined]
    assert len(ollama.requests) == 3


def test_ollama_gives_up_after_bounded_retries(ollama: OllamaServer) -> None:
    ollama.script(*[Status(429, "rate limited")] * 5)
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2", retries=2)
    with pytest.raises(ModelRateLimited, match="HTTP 429: rate limited"):
        provider.generate("hi")  # type: ignore[attr-defined]
    assert len(ollama.requests) == 3


def test_ollama_slow_answer_times_out(ollama: OllamaServer) -> None:
    ollama.script(Slow(1.0), Slow(1.0))
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2", timeout_s=0.2, retries=1)
    started = time.monotonic()
    with pytest.raises(ModelTimeout, match=r"did not answer within 0\.20s"):
        provider.generate("hi")  # type: ignore[attr-defined]
    assert time.monotonic() - started < 0.9


def test_ollama_malformed_body_is_a_clear_error(ollama: OllamaServer) -> None:
    ollama.script(Malformed(b"{not json"))
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2")
    with pytest.raises(ModelResponseError, match="not JSON"):
        provider.generate("hi")  # type: ignore[attr-defined]
    ollama.script(Malformed(b'{"done": true}'))
    with pytest.raises(ModelResponseError, match=r"without message\.content"):
        provider.generate("hi")  # type: ignore[attr-defined]


def test_ollama_unknown_model_is_not_retried(ollama: OllamaServer) -> None:
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="mistral")
    with pytest.raises(ModelServerError, match='HTTP 404: model "mistral" not found, try pulling it first'):
        provider.generate("hi")  # type: ignore[attr-defined]
    assert len(ollama.requests) == 1


def test_ollama_not_running_says_how_to_start_it() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    provider = fast(OllamaProvider, endpoint=endpoint, model_id="llama3.2")
    with pytest.raises(ModelUnavailable) as info:
        provider.generate("hi")  # type: ignore[attr-defined]
    assert str(info.value) == (f"ollama at {endpoint} is not reachable: connection refused; "
                               "start it with `ollama serve` or set model.endpoint")


def test_retries_never_run_past_the_action_deadline(ollama: OllamaServer) -> None:
    ollama.script(*[Status(503, "busy", retry_after=5)] * 5)
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2", retries=5, backoff_max_s=5.0)
    token = CURRENT_USAGE.set(RequestUsage(deadline=time.monotonic() + 0.5))
    try:
        started = time.monotonic()
        with pytest.raises(ModelServerError, match="503"):
            provider.generate("hi")  # type: ignore[attr-defined]
        assert time.monotonic() - started < 0.5
    finally:
        CURRENT_USAGE.reset(token)


def test_an_expired_deadline_stops_before_calling(ollama: OllamaServer) -> None:
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2")
    token = CURRENT_USAGE.set(RequestUsage(deadline=time.monotonic() - 1))
    try:
        with pytest.raises(ActionTimeout):
            provider.generate("hi")  # type: ignore[attr-defined]
    finally:
        CURRENT_USAGE.reset(token)
    assert ollama.requests == []


def test_usage_of_every_call_is_accounted_to_the_request(ollama: OllamaServer) -> None:
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2")
    usage = RequestUsage(deadline=time.monotonic() + 5)
    token = CURRENT_USAGE.set(usage)
    try:
        provider.generate("one two")  # type: ignore[attr-defined]
        provider.generate("three")  # type: ignore[attr-defined]
    finally:
        CURRENT_USAGE.reset(token)
    assert (usage.input_tokens, usage.output_tokens, usage.model_calls) == (3, 3, 2)


# -- openai -------------------------------------------------------------------------------


def test_openai_chat_completion_with_secret_api_key(openai: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    clear_cache()
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test")
    provider = build_provider({"provider": "openai", "model_id": "gpt-4o-mini", "endpoint": openai.url,
                               "api_key": "env:TEST_OPENAI_KEY", "timeout_s": 2, "retries": 0}, artifacts_dir=Path())
    result = provider.generate("hello there")
    assert result.text == "hello there" and (result.input_tokens, result.output_tokens) == (2, 2)
    assert openai.requests[-1].headers["authorization"] == "Bearer sk-test"


def test_openai_wrong_key_is_not_retried_and_not_echoed(openai: OpenAIServer) -> None:
    provider = fast(OpenAIProvider, endpoint=openai.url, model_id="m", api_key="sk-wrong")
    with pytest.raises(ModelServerError) as info:
        provider.generate("hi")  # type: ignore[attr-defined]
    assert "HTTP 401: Incorrect API key provided" in str(info.value) and "sk-wrong" not in str(info.value)
    assert len(openai.requests) == 1


def test_openai_logprobs_give_a_confidence(openai: OpenAIServer) -> None:
    openai.script(Text("cards", logprobs=(-0.1, -0.3)))
    provider = fast(OpenAIProvider, endpoint=openai.url, model_id="m", api_key="sk-test")
    result = provider.generate("x", logprobs=True)  # type: ignore[attr-defined]
    assert result.confidence == pytest.approx(2.718281828 ** -0.2, rel=1e-6)


def test_openai_json_response_format_is_parsed(openai: OpenAIServer) -> None:
    openai.script(Text(json.dumps({"team": "loans", "confidence": 0.7})))
    provider = fast(OpenAIProvider, endpoint=openai.url, model_id="m", api_key="sk-test")
    result = provider.generate("x", response_format={"type": "json_object"})  # type: ignore[attr-defined]
    assert result.output == {"team": "loans", "confidence": 0.7} and result.confidence == 0.7
    openai.script(Text("not json"))
    with pytest.raises(ModelResponseError, match="asked for JSON"):
        provider.generate("x", response_format={"type": "json_object"})  # type: ignore[attr-defined]


def test_openai_server_errors_are_retried(openai: OpenAIServer) -> None:
    openai.script(Status(502), Status(429, retry_after=0))
    provider = fast(OpenAIProvider, endpoint=openai.url, model_id="m", api_key="sk-test", retries=2)
    assert provider.generate("ok").text == "ok"  # type: ignore[attr-defined]


def test_openai_secret_from_secrets_manager(openai: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    clear_cache()
    for name, value in (("AWS_ACCESS_KEY_ID", "t"), ("AWS_SECRET_ACCESS_KEY", "t"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name="agent/openai", SecretString="sk-test")
        provider = fast(OpenAIProvider, endpoint=openai.url, model_id="m", api_key="secretsmanager:agent/openai")
        assert provider.generate("hi").text == "hi"  # type: ignore[attr-defined]
    clear_cache()


# -- bedrock ------------------------------------------------------------------------------


def converse_response(text: str, inputs: int = 11, outputs: int = 3) -> dict[str, object]:
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": inputs, "outputTokens": outputs, "totalTokens": inputs + outputs},
            "metrics": {"latencyMs": 120}}


@pytest.fixture
def bedrock_client() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")


def test_bedrock_converse_maps_parameters_and_usage(bedrock_client: Any) -> None:
    provider = fast(BedrockProvider, client=bedrock_client, model_id="anthropic.claude-3-haiku",
                    parameters={"max_tokens": 50, "temperature": 0.2})
    with Stubber(bedrock_client) as stub:
        stub.add_response("converse", converse_response("cards"), {
            "modelId": "anthropic.claude-3-haiku",
            "messages": [{"role": "user", "content": [{"text": "route me"}]}],
            "system": [{"text": "be brief"}],
            "inferenceConfig": {"maxTokens": 50, "temperature": 0.2},
        })
        result = provider.generate("route me", system="be brief")  # type: ignore[attr-defined]
        stub.assert_no_pending_responses()
    assert (result.text, result.input_tokens, result.output_tokens) == ("cards", 11, 3)


def test_bedrock_throttling_is_retried(bedrock_client: Any) -> None:
    provider = fast(BedrockProvider, client=bedrock_client, model_id="m", retries=2)
    with Stubber(bedrock_client) as stub:
        stub.add_client_error("converse", "ThrottlingException", "Too many requests", 429)
        stub.add_client_error("converse", "ServiceUnavailableException", "busy", 503)
        stub.add_response("converse", converse_response("ok"))
        assert provider.generate("x").text == "ok"  # type: ignore[attr-defined]


def test_bedrock_gives_up_and_validation_errors_are_not_retried(bedrock_client: Any) -> None:
    provider = fast(BedrockProvider, client=bedrock_client, model_id="m", retries=1)
    with Stubber(bedrock_client) as stub:
        stub.add_client_error("converse", "ThrottlingException", "slow down", 429)
        stub.add_client_error("converse", "ThrottlingException", "slow down", 429)
        with pytest.raises(ModelRateLimited, match="ThrottlingException: slow down"):
            provider.generate("x")  # type: ignore[attr-defined]
        stub.add_client_error("converse", "ValidationException", "bad model id", 400)
        with pytest.raises(ModelServerError, match="ValidationException"):
            provider.generate("x")  # type: ignore[attr-defined]
        stub.assert_no_pending_responses()


def test_bedrock_client_is_created_lazily() -> None:
    provider = BedrockProvider(model_id="m", region="eu-west-1")
    assert provider._client is None


# -- python -------------------------------------------------------------------------------


def test_python_provider_loads_once_with_artifacts_and_parameters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "weights.txt").write_text("0.75")
    (tmp_path / "tiny_model_mod.py").write_text(
        "from pathlib import Path\n"
        "LOADS = []\n"
        "class M:\n"
        "    def __init__(self, w, p): self.w, self.p = w, p\n"
        "    def predict(self, x): return {'text': x[::-1], 'confidence': self.w, 'input_tokens': self.p['n']}\n"
        "def load(artifacts_dir: Path, parameters: dict):\n"
        "    LOADS.append(1)\n"
        "    return M(float((artifacts_dir / 'weights.txt').read_text()), parameters)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    provider = build_provider({"provider": "python", "model_id": "tiny_model_mod:load", "parameters": {"n": 4}},
                              artifacts_dir=tmp_path)
    result = provider.generate("abc")
    assert (result.text, result.confidence, result.input_tokens) == ("cba", 0.75, 4)
    import tiny_model_mod  # type: ignore[import-not-found]

    assert tiny_model_mod.LOADS == [1]


def test_unknown_provider_is_an_error() -> None:
    with pytest.raises(Exception, match="unknown model provider 'gpt'"):
        build_provider({"provider": "gpt", "model_id": "x"}, artifacts_dir=Path())


def test_ssm_secret_resolved_through_aws_endpoint_url(openai: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime's secret lookup talks to whatever AWS_ENDPOINT_URL names (here a moto server)."""
    clear_cache()
    try:
        with moto_server() as url:
            for name, value in (("AWS_ACCESS_KEY_ID", "t"), ("AWS_SECRET_ACCESS_KEY", "t"),
                                ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", url)):
                monkeypatch.setenv(name, value)
            boto3.client("ssm", region_name="us-east-1").put_parameter(
                Name="/agent/openai-key", Value="sk-test", Type="SecureString")
            provider = fast(OpenAIProvider, endpoint=openai.url, model_id="m", api_key="ssm:/agent/openai-key")
            assert provider.generate("hi").text == "hi"  # type: ignore[attr-defined]
            assert openai.requests[-1].headers["authorization"] == "Bearer sk-test"
    finally:
        clear_cache()


def test_connections_are_kept_alive_between_calls(ollama: OllamaServer) -> None:
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2")
    for text in ("one", "two", "three"):
        provider.generate(text)  # type: ignore[attr-defined]
    assert len({r.client_port for r in ollama.requests}) == 1


def test_a_kept_alive_connection_closed_by_the_server_is_replaced_transparently(ollama: OllamaServer) -> None:
    provider = fast(OllamaProvider, endpoint=ollama.url, model_id="llama3.2", retries=0)
    provider.generate("warm")  # type: ignore[attr-defined]
    ollama.script(Hangup())
    assert provider.generate("again").text == "again"  # type: ignore[attr-defined]
    ports = [r.client_port for r in ollama.requests]
    assert len(ports) == 3 and ports[0] == ports[1] != ports[2]


def test_a_fresh_connection_dropped_is_a_retryable_failure(ollama: OllamaServer) -> None:
    ollama.script(Hangup(), Hangup())
    provider = fast(OllamaProvider, endpoint=f"http://localhost:{ollama.port}", model_id="llama3.2", retries=1)
    with pytest.raises(ModelServerError, match="dropped the connection"):
        provider.generate("x")  # type: ignore[attr-defined]
    assert len(ollama.requests) == 2
