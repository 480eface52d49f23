"""A judge model grades one answer from 0 to 1 against the spec's rubric.

The judge is reached through the runtime's own providers (`handlers.providers`: Ollama, Bedrock,
any OpenAI-compatible endpoint), with their timeouts, retries on 429/5xx and secret references.
It is asked for a JSON object `{"score": 0..1, "reason": "..."}`; a bare number is taken too.
An answer that did not come (status >= 400) scores 0 without asking the judge.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployer.compiled import JudgeModel
from deployer.errors import DeployerError

#: What the judge sees of one value (input, expected, answer): enough to grade, bounded.
MAX_SHOWN_CHARS = 8000

SYSTEM = ("You grade one answer of an AI agent. You are given the rubric, the request the agent received, the "
          "expected answer and the agent's answer. Reply with only a JSON object: "
          '{"score": <a number from 0 (wrong) to 1 (fully meets the rubric)>, "reason": "<one sentence>"}.')

Grader = Callable[[Any, Any, int, Any], float]  # (input, expected, status, answer) -> score


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + " [...truncated]"


def judge_prompt(rubric: str, request: Any, expected: Any, answer: Any) -> str:
    return (f"Rubric: {rubric}\n\nRequest: {_shown(request)}\n\nExpected answer: {_shown(expected)}\n\n"
            f"Agent's answer: {_shown(answer)}")


_NUMBER = re.compile(r"(?<![\w.])(?:0(?:\.\d+)?|1(?:\.0+)?|\.\d+)(?![\w.])")


def parse_grade(text: str) -> float | None:
    """The score in a judge's reply: the JSON object's `score` (anywhere in the text), else a lone
    number from 0 to 1; None when there is neither."""
    for match in re.finditer(r"\{.*?\}", text, flags=re.DOTALL):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("score"), (int, float)) and not isinstance(
                data.get("score"), bool):
            score = float(data["score"])
            return score if 0.0 <= score <= 1.0 else None
    numbers = _NUMBER.findall(text.strip())
    return float(numbers[0]) if len(numbers) == 1 else None


def grader_for(judge: JudgeModel, *, attempts: int = 2) -> Grader:
    """A thread-safe grading function over the judge model (one provider for the whole run)."""
    from handlers.providers import ModelError, build_provider

    config = dataclasses.asdict(judge.model)
    provider = build_provider(config, artifacts_dir=Path("."))
    where = f"the judge model {judge.model.provider}:{judge.model.model_id}"

    def grade(request: Any, expected: Any, status: int, answer: Any) -> float:
        if status >= 400:
            return 0.0
        prompt = judge_prompt(judge.rubric, request, expected, answer)
        reply = ""
        for _ in range(attempts):
            try:
                reply = provider.generate(prompt, system=SYSTEM, temperature=0).text
            except ModelError as exc:
                raise DeployerError(f"{where} failed: {exc}",
                                    hint="check evaluation.score.judge.model (endpoint, id, credentials); the "
                                         "answers so far are kept and the next run resumes") from None
            score = parse_grade(reply)
            if score is not None:
                return score
        raise DeployerError(f"{where} answered without a score from 0 to 1 ({attempts} tries); its last reply: "
                            f"{reply[:200]!r}",
                            hint='the judge must reply {"score": 0..1, "reason": ...}; try a stronger judge model')
    return grade
