"""`deployer eval` against the real emulator running the real support router bundle.

A version whose model confuses two teams (`DEPLOYER_FAULT_CONFUSE`: fast, error-free, confident,
wrong) fails the evaluation against the stable version; the same model deployed again passes with
no difference at all; an interrupted evaluation resumes from its answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deployer.errors import DeployerError
from deployer.evaluation.session import evaluate
from deployer.local import Emulator, Faults
from deployer.ops.target import target_from_endpoints
from tests.helpers.receivers import flagship_local

LIMIT = 300


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Emulator, Any]]:
    model = flagship_local()
    with Emulator(model, state_dir=tmp_path_factory.mktemp("eval-emulator"), time_scale=60) as emu:
        emu.deploy()
        yield emu, model


def with_env(model: Any, **env: str) -> Any:
    function = replace(model.function, environment={**model.function.environment, **env})
    return replace(model, function=function, spec_hash=model.spec_hash + "".join(env))


@pytest.mark.slow
def test_the_stable_router_passes_its_own_evaluation(emulator: tuple[Emulator, Any], tmp_path: Path) -> None:
    emu, model = emulator
    result = evaluate(target_from_endpoints(model, emu.endpoints()), against=None, report_dir=tmp_path, limit=LIMIT)
    verdict = result.verdict
    assert verdict.passed, verdict.reasons
    assert verdict.candidate.accuracy >= 0.93 and verdict.candidate.labels is not None
    assert len(verdict.candidate.labels.classes) == 9 and verdict.candidate.errors == 0
    data = json.loads(result.report_json.read_text())
    assert data["examples"] == LIMIT and data["candidate_version"] == "1" and data["candidate"]["n"] == LIMIT
    assert "<h2>Confusion" in result.report_html.read_text()


@pytest.mark.slow
def test_a_router_that_confuses_two_teams_fails_against_stable_and_noise_does_not(
        emulator: tuple[Emulator, Any], tmp_path: Path) -> None:
    emu, model = emulator
    confused = emu.deploy(with_env(model, RELEASE="confused"), faults=Faults(confuse="team:cards=card_payments_and_refunds"))
    emu.rollback(reason="evaluate it pinned, not live")
    target = target_from_endpoints(model, emu.endpoints())
    bad = evaluate(target, version=confused.version, report_dir=tmp_path / "bad", limit=LIMIT).verdict
    assert not bad.passed
    assert bad.paired is not None and bad.paired.significant_drop and bad.paired.discordant is not None
    assert bad.paired.discordant[0] > 10 and bad.paired.discordant[1] == 0  # only worse, never better
    assert any("McNemar" in reason for reason in bad.reasons)
    cards = next(c for c in bad.candidate.labels.classes if c.label == "cards") if bad.candidate.labels else None
    assert cards is not None and cards.recall == 0.0
    assert bad.changed and all(c["was_right"] for c in bad.changed)  # every change: right before, wrong now

    same = emu.deploy(with_env(model, RELEASE="same-model"))
    emu.rollback(reason="evaluate it pinned, not live")
    fine = evaluate(target, version=same.version, report_dir=tmp_path / "fine", limit=LIMIT).verdict
    assert fine.passed, fine.reasons
    assert fine.paired is not None and not fine.paired.significant_drop and fine.paired.discordant == (0, 0)


@pytest.mark.slow
def test_an_interrupted_evaluation_resumes_from_its_answers(emulator: tuple[Emulator, Any], tmp_path: Path) -> None:
    emu, model = emulator
    target = target_from_endpoints(model, emu.endpoints())
    asked: list[int] = []

    def interrupt(done: int, total: int) -> None:
        asked.append(done)
        if done >= 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(target, against=None, report_dir=tmp_path, limit=100, concurrency=2, progress=interrupt)
    kept = len((tmp_path / "evaluation-answers.jsonl").read_text().splitlines())
    assert kept >= 40
    result = evaluate(target, against=None, report_dir=tmp_path, limit=100, concurrency=2)
    assert result.resumed == kept and result.verdict.candidate.n == 100


def test_a_spec_without_an_evaluation_says_how_to_add_one(emulator: tuple[Emulator, Any], tmp_path: Path) -> None:
    emu, model = emulator
    bare = replace(model, evaluation=None)
    with pytest.raises(DeployerError, match="no evaluation section"):
        evaluate(target_from_endpoints(bare, emu.endpoints()), report_dir=tmp_path)


@pytest.mark.slow
def test_answers_are_resumed_only_for_the_same_code_and_configuration(
        emulator: tuple[Emulator, Any], tmp_path: Path) -> None:
    """A version number that comes back with other code (an emulator restart, another account) is asked again."""
    emu, model = emulator
    target = target_from_endpoints(model, emu.endpoints())
    first = evaluate(target, against=None, report_dir=tmp_path, limit=30)
    assert first.resumed == 0
    checkpoint = tmp_path / "evaluation-answers.jsonl"
    lines = [json.loads(line) for line in checkpoint.read_text().splitlines()]
    version, code, config = lines[0]["version"].split(":")
    assert version == "1" and len(code) == 16 and len(config) == 12
    assert evaluate(target, against=None, report_dir=tmp_path, limit=30).resumed == 30
    checkpoint.write_text("".join(json.dumps({**line, "version": f"1:{'0' * 16}:{config}"}) + "\n" for line in lines))
    again = evaluate(target, against=None, report_dir=tmp_path, limit=30)
    assert again.resumed == 0 and again.verdict.candidate.n == 30


def staging(model: Any, emu: Emulator, report: Path, *, evaluate: bool = True) -> Any:
    """`deployer loadtest`'s library call on a short plan, evaluating the first LIMIT examples."""
    from deployer.loadtest.plan import Overrides, resolve_plan
    from deployer.loadtest.session import run_load_test

    limited = replace(model, evaluation=replace(model.evaluation, limit=LIMIT))
    plan = resolve_plan(limited, Overrides(rps=20, duration_s=3, users=4, report_dir=str(report)),
                        target_url=str(emu.gateway_url))
    return run_load_test(plan, ops=target_from_endpoints(limited, emu.endpoints()), evaluate=evaluate)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_staging_gate_fails_a_version_whose_answers_are_wrong(
        emulator: tuple[Emulator, Any], tmp_path: Path) -> None:
    """`deployer loadtest` runs the evaluation set first; its gate is part of the verdict and the checklist."""
    from deployer.loadtest.checklist import REAL_DATA
    from deployer.loadtest.report import verdict_reasons, write_report

    emu, model = emulator
    good = staging(model, emu, tmp_path / "good")
    assert good.evaluation is not None and good.evaluation_passed and good.evaluation["examples"] == LIMIT
    assert next(i for i in good.checklist if i.item == REAL_DATA).status == "passed"
    assert (tmp_path / "good" / "eval" / "evaluation.html").is_file()

    with Emulator(model, state_dir=tmp_path / "confused-emulator", time_scale=60) as confused:
        confused.deploy(faults=Faults(confuse="team:cards=card_payments_and_refunds"))  # the first version: live
        bad = staging(model, confused, tmp_path / "bad")
    assert bad.evaluation is not None and not bad.evaluation_passed and not bad.passed
    assert "evaluation: accuracy" in verdict_reasons(bad)
    assert next(i for i in bad.checklist if i.item == REAL_DATA).status == "failed"
    files = write_report(bad)
    report = json.loads(files.json_path.read_text())
    assert report["passed"] is False and report["evaluation"]["passed"] is False
    assert report["evaluation"]["accuracy"] < 0.93

    skipped = staging(model, emu, tmp_path / "skipped", evaluate=False)
    assert skipped.evaluation is None
    assert next(i for i in skipped.checklist if i.item == REAL_DATA).status == "confirm"


def team_judge(messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
    """A judge model on loopback: grades 1 when the agent's team is the expected one, else 0.1."""
    prompt = str(messages[-1]["content"])
    expected = json.loads(prompt.split("Expected answer: ", 1)[1].split("\n\nAgent's answer: ", 1)[0])
    answer = json.loads(prompt.split("Agent's answer: ", 1)[1])
    right = isinstance(answer, dict) and answer.get("team") == expected.get("team")
    return json.dumps({"score": 1 if right else 0.1, "reason": "team" if right else "wrong team"})


def judged(model: Any, url: str) -> Any:
    from deployer.compiled import JudgeModel, ModelConfig, Pricing

    config = ModelConfig("openai", "judge-1", url, None, None, {}, 5.0, 1, Pricing(), None)
    evaluation = replace(model.evaluation, score_kind="judge", min_macro_f1=None,
                         judge=JudgeModel(config, "The team is the expected one.", 0.5))
    return replace(model, evaluation=evaluation)


@pytest.mark.slow
def test_a_judge_model_grades_each_answer_and_a_real_drop_fails_on_the_paired_bootstrap(
        emulator: tuple[Emulator, Any], tmp_path: Path) -> None:
    from tests.helpers.model_servers import OpenAIServer

    emu, model = emulator
    with OpenAIServer(team_judge) as server:
        graded = judged(model, server.url)
        target = target_from_endpoints(graded, emu.endpoints())
        good = evaluate(target, against=None, report_dir=tmp_path / "good", limit=100)
        assert good.verdict.passed, good.verdict.reasons
        assert good.verdict.candidate.mean_score is not None and good.verdict.candidate.mean_score > 0.9
        sent = server.requests[0].body
        assert sent["temperature"] == 0 and sent["messages"][0]["role"] == "system"
        assert "Rubric: The team is the expected one." in sent["messages"][1]["content"]

        confused = emu.deploy(with_env(model, RELEASE="confused-judged"),
                              faults=Faults(confuse="team:cards=card_payments_and_refunds"))
        emu.rollback(reason="evaluate it pinned, not live")
        bad = evaluate(target, version=confused.version, report_dir=tmp_path / "bad", limit=100).verdict
    assert not bad.passed and bad.paired is not None and bad.paired.test == "paired-bootstrap"
    assert any("mean judge grade dropped" in r for r in bad.reasons), bad.reasons
    assert json.loads((tmp_path / "bad" / "evaluation.json").read_text())["candidate"]["mean_score"] < 0.9


@pytest.mark.slow
def test_a_judge_that_cannot_be_reached_stops_the_run_and_the_next_run_resumes(
        emulator: tuple[Emulator, Any], tmp_path: Path) -> None:
    from tests.helpers.model_servers import OpenAIServer, Status

    emu, model = emulator
    with OpenAIServer(team_judge) as server:
        graded = judged(model, server.url)
        target = target_from_endpoints(graded, emu.endpoints())
        evaluate(target, against=None, report_dir=tmp_path, limit=20, concurrency=1)
        server.script(Status(503), Status(503))  # one try and its one retry (retries: 1), both 503
        with pytest.raises(DeployerError, match="judge model openai:judge-1 failed") as failed:
            evaluate(target, against=None, report_dir=tmp_path, limit=40, concurrency=1)
        assert "resumes" in (failed.value.hint or "")
        result = evaluate(target, against=None, report_dir=tmp_path, limit=40, concurrency=1)
    assert result.resumed >= 20 and result.verdict.candidate.n == 40 and result.verdict.passed
