"""`evaluation`: how answer quality is measured, offline on a labelled set and online in a canary.

    evaluation:
      data: data/eval.jsonl          # JSON lines: {"input": {...}, "expected": {...}}
      action: route
      score: {kind: label, field: team}
      gate: {min_accuracy: 0.9, max_regression: 0.02}
      online:                        # a canary compared with the stable version, same window
        field: team
        labels: [cards, transfers, ...]
        low_confidence: true

A text answer can be scored by a judge model (any served provider of `model`):

      score:
        kind: judge
        field: reply
        judge: {rubric: "Names the right team and does not promise a refund.", pass_score: 0.7,
                model: {provider: openai, id: gpt-4o-mini, endpoint: https://api.openai.com/v1,
                        api_key: ssm:/support-router/openai-key}}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from deployer.spec.model import ModelSpec
from deployer.spec.section import Section
from deployer.spec.types import FieldProblem, Identifier

ScoreKind = Literal["label", "exact", "contains", "regex", "judge"]


class JudgeSpec(Section):
    """A model that grades each answer from 0 to 1 against a rubric, shown the input and expected answer."""

    rubric: str = Field(min_length=1, max_length=4000, description="what a good answer does, in plain words")
    model: ModelSpec | None = Field(None, description="the judge (ollama, bedrock or openai); defaults to the agent's "
                                                      "model when that is a served one")
    pass_score: float = Field(0.5, ge=0, le=1, description="a grade at or above this counts as right (accuracy)")


class ScoreSpec(Section):
    """How one answer is scored against its expected one."""

    kind: ScoreKind = Field(description="label: a class in a field (accuracy, macro-F1, confusion); exact: equal; "
                                        "contains / regex: text; judge: a model's 0-1 grade against a rubric")
    field: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
                              description="the answer's field to score (a.b for nested); the whole answer if absent")
    judge: JudgeSpec | None = Field(None, description="with kind: judge, the model and rubric that grade answers")

    @model_validator(mode="after")
    def _field(self) -> ScoreSpec:
        if self.kind == "label" and not self.field:
            raise FieldProblem("field", "a label score needs the answer's field that holds the label (e.g. field: team)")
        if self.kind == "judge" and self.judge is None:
            raise FieldProblem("judge", "a judge score needs judge: {rubric: ..., model: {...}}")
        if self.kind != "judge" and self.judge is not None:
            raise FieldProblem("judge", f"judge goes with kind: judge (this score is kind: {self.kind})")
        if self.judge is not None and self.judge.model is not None and self.judge.model.provider == "python":
            raise FieldProblem("judge", "a judge is a served model (ollama, bedrock or openai), not provider python")
        return self


class GateSpec(Section):
    """When a version passes: an absolute floor and the largest drop against the stable version."""

    min_accuracy: float | None = Field(None, ge=0, le=1, description="share of examples answered right")
    min_macro_f1: float | None = Field(None, ge=0, le=1, description="label scores: mean F1 over the classes")
    max_regression: float = Field(0.02, ge=0, le=1, description="largest accuracy drop against the stable version "
                                                                "(when the drop is significant)")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="significance level of the paired test")


class OnlineQualitySpec(Section):
    """A canary's answers compared with the stable version's over the same window."""

    field: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                              description="a label field of the answers whose distribution is compared")
    labels: list[str] = Field(default_factory=list, max_length=50,
                              description="the values the field takes (the test counts each one)")
    low_confidence: bool = Field(False, description="compare the share of answers below model.confidence_threshold")
    alpha: float = Field(0.01, gt=0, lt=0.5, description="significance level of each comparison")
    min_samples: int = Field(100, ge=10, le=1_000_000, description="answers per version in the window before deciding")
    max_shift: float = Field(0.1, gt=0, le=1, description="least change that rolls back: total variation of the "
                                                          "label distribution, or the rise of the low-confidence share")

    @model_validator(mode="after")
    def _labels(self) -> OnlineQualitySpec:
        if self.field and len(set(self.labels)) < 2:
            raise FieldProblem("labels", f"list the values of {self.field!r} (at least two): the test compares how "
                                         "often each one comes")
        if self.labels and not self.field:
            raise FieldProblem("field", "name the answer's field that holds these labels")
        if not self.field and not self.low_confidence:
            raise FieldProblem("field", "give a label field to compare (field, labels) or low_confidence: true")
        return self


class EvaluationSpec(Section):
    data: str = Field(description="JSON lines of {input, expected}, relative to agent.yaml")
    action: Identifier | None = Field(None, description="the action evaluated; defaults to the first")
    score: ScoreSpec
    gate: GateSpec = Field(default_factory=GateSpec)
    concurrency: int = Field(4, ge=1, le=64, description="requests in flight while evaluating")
    limit: int | None = Field(None, ge=10, le=1_000_000, description="evaluate at most this many examples")
    online: OnlineQualitySpec | None = Field(None, description="compare each canary with the stable version in production")
