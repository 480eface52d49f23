"""Judge scoring: the spec's rules, reading a judge's reply, and the verdict on graded answers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deployer.compiled import EvaluationModel, JudgeModel, ModelConfig, Pricing
from deployer.errors import SpecError
from deployer.evaluation.judge import judge_prompt, parse_grade
from deployer.evaluation.runner import Example, Verdict, judge
from tests.unit.test_compiler import HEAD, STAGING, compiled

EVAL = """\
evaluation:
  data: eval.jsonl
  score:
    kind: judge
    field: reply
    judge:
      rubric: Names the right team.
{model}
"""


@pytest.mark.parametrize("reply, grade", [
    ('{"score": 0.8, "reason": "names the team"}', 0.8),
    ('Sure. {"score": 1, "reason": "ok"} Anything else?', 1.0),
    ('```json\n{"reason": "wrong team", "score": 0}\n```', 0.0),
    ("0.35", 0.35),
    ("Score: 1", 1.0),
    ('{"score": 7}', None),  # out of range
    ('{"score": true}', None),
    ("I think 0.2 or maybe 0.9", None),  # two numbers: which?
    ("no idea", None),
    ("", None),
])
def test_a_judges_reply_gives_one_grade_or_none(reply: str, grade: float | None) -> None:
    assert parse_grade(reply) == grade


def test_the_prompt_shows_the_rubric_request_expected_and_answer_bounded() -> None:
    prompt = judge_prompt("Be right.", {"message": "x" * 20_000}, {"team": "cards"}, {"team": "transfers"})
    assert prompt.startswith("Rubric: Be right.") and '"team": "cards"' in prompt and '"team": "transfers"' in prompt
    assert "[...truncated]" in prompt and len(prompt) < 9000


def test_a_judge_defaults_to_the_agents_served_model(tmp_path: Path) -> None:
    head = HEAD.replace("provider: python\n  id: model:load", "provider: ollama\n  id: llama3.2")
    model = compiled(tmp_path, head, EVAL.format(model=""), STAGING)
    assert model.evaluation is not None and model.evaluation.judge is not None
    assert model.evaluation.judge.model.provider == "ollama" and model.evaluation.judge.model.model_id == "llama3.2"
    assert model.evaluation.judge.model.endpoint == "http://127.0.0.1:11434"
    assert model.evaluation.judge.pass_score == 0.5


def test_a_python_agent_needs_a_served_judge_model(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="judge is a served model"):
        compiled(tmp_path, HEAD, EVAL.format(model=""), STAGING)
    bedrock = "      model: {provider: bedrock, id: anthropic.claude-3-haiku}"
    model = compiled(tmp_path, HEAD, EVAL.format(model=bedrock), STAGING)
    assert model.evaluation is not None and model.evaluation.judge is not None
    assert model.evaluation.judge.model.region == model.region  # the environment's region


@pytest.mark.parametrize("score, problem", [
    ("{kind: judge, field: reply}", "a judge score needs judge"),
    ("{kind: exact, field: reply, judge: {rubric: x}}", "judge goes with kind: judge"),
    ("{kind: judge, judge: {rubric: x, model: {provider: python, id: 'm:load'}}}", "not provider python"),
    ("{kind: judge, judge: {rubric: x, pass_score: 1.5}}", "pass_score"),
])
def test_judge_settings_that_cannot_work_are_refused_where_they_are(tmp_path: Path, score: str, problem: str) -> None:
    spec = f"evaluation:\n  data: eval.jsonl\n  score: {score}\n"
    with pytest.raises(SpecError, match=problem) as raised:
        compiled(tmp_path, HEAD, spec, STAGING)
    assert "agent.yaml:" in str(raised.value)


def graded_model(max_regression: float = 0.02) -> EvaluationModel:
    config = ModelConfig("openai", "judge", "http://127.0.0.1:1/v1", None, None, {}, 5.0, 0, Pricing(), None)
    return EvaluationModel("eval.jsonl", "answer", "judge", "reply", 0.6, None, max_regression, 0.05, 4, None,
                           JudgeModel(config, "Be right.", 0.5))


def verdict_on(stable: list[float], candidate: list[float], model: EvaluationModel | None = None) -> Verdict:
    examples = [Example(i, {"q": i}, {"reply": "a"}) for i in range(len(stable))]
    answers = {(v, i): (200, {"reply": "x"}) for v in ("1", "2") for i in range(len(stable))}
    scores = {**{("1", i): g for i, g in enumerate(stable)}, **{("2", i): g for i, g in enumerate(candidate)}}
    return judge(examples, model or graded_model(), answers, "2", "1", scores)


def test_graded_answers_dropping_for_real_fail_on_a_paired_bootstrap() -> None:
    rng = random.Random(3)
    stable = [min(1.0, max(0.0, rng.gauss(0.8, 0.1))) for _ in range(300)]
    worse = [max(0.0, g - 0.15) for g in stable]
    verdict = verdict_on(stable, worse)
    assert not verdict.passed and verdict.paired is not None
    assert verdict.paired.test == "paired-bootstrap" and verdict.paired.significant_drop
    assert any("mean judge grade dropped" in r for r in verdict.reasons)
    assert verdict.candidate.mean_score == pytest.approx(sum(worse) / 300)


def test_graded_answers_that_only_jitter_pass() -> None:
    rng = random.Random(4)
    stable = [min(1.0, max(0.0, rng.gauss(0.8, 0.1))) for _ in range(300)]
    jitter = [min(1.0, max(0.0, g + rng.gauss(0, 0.05))) for g in stable]
    verdict = verdict_on(stable, jitter)
    assert verdict.passed, verdict.reasons
    assert verdict.paired is not None and not verdict.paired.significant_drop


def test_accuracy_of_graded_answers_is_the_share_at_pass_score_or_above() -> None:
    verdict = verdict_on([1.0] * 10, [0.5, 0.49, 0.9, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert verdict.candidate.accuracy == pytest.approx(0.8)
