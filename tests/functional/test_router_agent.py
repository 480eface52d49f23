"""The flagship support router through the real Lambda runtime, and its spec through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "agent.yaml"
SAMPLE = REPO / "samples" / "support_router"
DEPLOYER = Path(sys.executable).parent / "deployer"


def compiled(environment: str = "local") -> Any:
    from deployer.compiler import compile_environment
    from deployer.spec import load_spec

    return compile_environment(load_spec(SPEC), environment)


@pytest.fixture(scope="module")
def router() -> Any:
    from deployer.invoke import LocalAgent

    return LocalAgent(compiled())


def test_route_sends_a_clear_message_to_its_team(router: Any) -> None:
    result = router.invoke("route", {"message": "I still have not received my new card, it has been 10 days"})

    assert result.status == 200, result.body
    output = result.body["output"]
    assert (output["team"], output["intent"]) == ("cards", "card_arrival")
    assert output["escalate"] is False
    assert output["confidence"] >= output["threshold"] == compiled().model.confidence_threshold
    assert output["alternatives"][0]["intent"] == "card_arrival"
    assert result.record["confidence"] == pytest.approx(output["confidence"], abs=1e-4)


def test_route_escalates_a_message_it_is_unsure_about(router: Any) -> None:
    result = router.invoke("route", {"message": "hello?"})

    assert result.status == 200, result.body
    assert result.body["output"]["escalate"] is True
    assert result.body["output"]["confidence"] < result.body["output"]["threshold"]


def test_route_accepts_metadata(router: Any) -> None:
    result = router.invoke("route", {"message": "How do I top up by bank transfer?", "metadata": {"channel": "chat"}})

    assert result.status == 200, result.body
    assert result.body["output"]["team"] == "top_ups"


@pytest.mark.parametrize("message", ["", "   "])
def test_an_empty_message_is_a_422_that_names_the_field(router: Any, message: str) -> None:
    result = router.invoke("route", {"message": message})

    assert result.status == 422
    assert "message" in result.body["error"]["message"]


def test_an_unknown_field_is_a_422_that_lists_the_known_ones(router: Any) -> None:
    result = router.invoke("route", {"text": "my card is lost"})

    assert result.status == 422
    assert "message" in result.body["error"]["message"]


def test_every_held_out_load_input_routes_with_the_spec_threshold(router: Any) -> None:
    lines = (SAMPLE / "data" / "load_inputs.jsonl").read_text().splitlines()
    inputs = [json.loads(line) for line in lines]

    assert len(inputs) >= 1000
    assert all(set(item) == {"message", "weight"} and item["weight"] > 0 for item in inputs)
    results = [router.invoke("route", {"message": item["message"]}) for item in inputs[::25]]
    assert all(r.status == 200 for r in results)
    escalated = sum(r.body["output"]["escalate"] for r in results)
    assert escalated < len(results) / 4


def test_the_threshold_comes_from_the_spec(router: Any) -> None:
    from deployer.invoke import LocalAgent

    model = compiled()
    strict = LocalAgent(replace(model, model=replace(model.model, confidence_threshold=0.999)))

    result = strict.invoke("route", {"message": "I still have not received my new card, it has been 10 days"})

    assert result.body["output"]["threshold"] == 0.999
    assert result.body["output"]["escalate"] is True


def test_the_agent_runs_in_a_notebook_without_the_runtime() -> None:
    sys.path.insert(0, str(SAMPLE))
    import router_agent
    import router_model

    from handlers import AgentSettings, instantiate
    from handlers.providers.python_model import PythonModel

    model = PythonModel(model_id="router_model:load", artifacts_dir=SAMPLE)
    agent = instantiate(router_agent.SupportRouter, model=model, settings=AgentSettings(confidence_threshold=0.5))

    decision = agent.route("Someone used my card without my permission")
    assert decision["team"] == "fraud_and_security"
    assert decision["escalate"] is (decision["confidence"] < 0.5)
    with pytest.raises(ValueError, match="empty"):
        agent.route("  ")
    assert isinstance(model.predictor, router_model.RouterModel)


def test_the_spec_validates() -> None:
    proc = subprocess.run([str(DEPLOYER), "validate", "--spec", str(SPEC)], capture_output=True, text=True,
                          timeout=120, cwd=REPO)

    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.mark.parametrize("environment", ["local", "staging", "production"])
def test_every_environment_compiles_with_the_artifact_and_the_load_inputs(environment: str) -> None:
    model = compiled(environment)

    assert model.code.artifacts == ("model/router.json",)
    assert (Path(model.code.root) / "model" / "router.json").is_file()
    if environment != "production":  # production is never load-tested
        assert model.load.input_file is not None and Path(model.load.input_file).is_file()
    assert model.model.provider == "python" and model.model.model_id == "router_model:load"
