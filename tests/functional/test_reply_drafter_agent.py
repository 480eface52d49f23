"""The reply-drafter sample, run through the real Lambda runtime against a local Ollama-protocol server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.model_servers import OllamaServer, Text

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "samples" / "reply_drafter" / "agent.yaml"
DEPLOYER = Path(sys.executable).parent / "deployer"
TICKET = "I was charged twice for the same coffee this morning, can you refund one of them?"


def compile_env(environment: str) -> Any:
    from deployer.compiler import compile_environment
    from deployer.spec import load_spec

    return compile_environment(load_spec(SPEC), environment)


def invoke(data: dict[str, Any], endpoint: str) -> Any:
    """One request through the Lambda runtime, with the local environment's model at `endpoint`."""
    from deployer.invoke import invoke as run

    model = compile_env("local")
    return run(replace(model, model=replace(model.model, endpoint=endpoint)), "draft_reply", data)


def spec_copy(tmp_path: Path, endpoint: str) -> Path:
    """The sample spec with its code path made absolute and `model.endpoint` set."""
    text = SPEC.read_text()
    text = text.replace("  path: .  ", f"  path: {SPEC.parent}  ", 1)
    text = text.replace("  provider: ollama ", f"  endpoint: {endpoint}\n  provider: ollama ", 1)
    out = tmp_path / "agent.yaml"
    out.write_text(text)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def ollama() -> Iterator[OllamaServer]:
    with OllamaServer(models=("llama3.2",)) as server:
        yield server


def test_draft_reply_returns_the_model_text_for_review(ollama: OllamaServer) -> None:
    ollama.script(Text("Sorry about the double charge. One of the two payments is pending and will drop off."))

    result = invoke({"ticket": TICKET, "customer_name": "Ana", "team": "card_payments_and_refunds"}, ollama.url)

    assert result.status == 200, result.body
    output = result.body["output"]
    assert output["reply"].startswith("Sorry about the double charge")
    assert output["needs_review"] is True
    assert output["output_tokens"] == len(output["reply"].split())
    assert result.record["output_tokens"] == output["output_tokens"]


def test_the_model_gets_the_system_rules_the_ticket_and_the_spec_parameters(ollama: OllamaServer) -> None:
    invoke({"ticket": TICKET, "tone": "formal", "team": "card_payments_and_refunds"}, ollama.url)

    sent = ollama.requests[-1].body
    assert sent["model"] == "llama3.2:3b"
    assert sent["stream"] is False
    system, user = sent["messages"]
    assert system["role"] == "system" and "never ask for a full card number" in system["content"]
    assert TICKET in user["content"]
    assert "formal" in user["content"] and "card payments and refunds team" in user["content"]
    assert sent["options"]["temperature"] == 0.3


def test_an_empty_ticket_is_rejected_before_the_model_is_called(ollama: OllamaServer) -> None:
    result = invoke({"ticket": ""}, ollama.url)

    assert result.status == 422
    assert "ticket" in result.body["error"]["message"]
    assert not [r for r in ollama.requests if r.path == "/api/chat"]


def test_an_unknown_tone_is_rejected_with_the_allowed_values(ollama: OllamaServer) -> None:
    result = invoke({"ticket": TICKET, "tone": "sarcastic"}, ollama.url)

    assert result.status == 422
    assert "friendly" in result.body["error"]["message"]


def test_without_a_model_server_the_request_fails_with_a_clear_message() -> None:
    result = invoke({"ticket": TICKET}, f"http://127.0.0.1:{free_port()}")  # nothing listens there

    assert result.status >= 500
    message = result.body["error"]["message"]
    assert "not reachable" in message and "ollama serve" in message


def test_deployer_invoke_cli_drafts_a_reply(ollama: OllamaServer, tmp_path: Path) -> None:
    ollama.script(Text("We have refunded the duplicate payment."))
    spec = spec_copy(tmp_path, ollama.url)

    proc = subprocess.run(
        [str(DEPLOYER), "invoke", "draft_reply", "--spec", str(spec), "--json", "--data", json.dumps({"ticket": TICKET})],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )

    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "We have refunded the duplicate payment." in proc.stdout


def test_the_spec_validates_in_every_environment() -> None:
    proc = subprocess.run([str(DEPLOYER), "validate", "--spec", str(SPEC)], capture_output=True, text=True,
                          timeout=120, cwd=REPO)

    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("environment", "provider", "model_id"),
    [
        ("local", "ollama", "llama3.2:3b"),
        ("staging", "openai", "gpt-4o-mini"),
        ("production", "bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
    ],
)
def test_each_environment_compiles_to_its_provider(environment: str, provider: str, model_id: str) -> None:
    model = compile_env(environment).model

    assert (model.provider, model.model_id) == (provider, model_id)
    assert model.parameters == {"temperature": 0.3, "max_tokens": 300}


def test_staging_keeps_its_api_key_as_a_reference_and_production_prices_bedrock() -> None:
    staging, production = compile_env("staging").model, compile_env("production").model

    assert staging.api_key == "ssm:/reply-drafter/openai-api-key"
    assert staging.endpoint == "https://api.openai.com/v1"
    assert production.region == "eu-west-1"
    assert production.pricing.output_per_1k_usd > production.pricing.input_per_1k_usd > 0
