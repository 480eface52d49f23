"""Evaluation: the offline set and gate of `deployer eval`, and the online quality gate of a canary."""

from __future__ import annotations

import posixpath
from statistics import NormalDist

from deployer.compiled import EvaluationModel, JudgeModel, QualityGateModel
from deployer.compiler.model_config import model_config
from deployer.compiler.problems import Problems, did_you_mean
from deployer.evaluation.significance import chi_square_critical
from deployer.spec.models import AgentSpec


def compile_evaluation(spec: AgentSpec, base: str, region: str, problems: Problems) -> tuple[
        EvaluationModel | None, QualityGateModel | None]:
    evaluation = spec.evaluation
    if evaluation is None:
        return None, None
    action = evaluation.action or next(iter(spec.actions))
    if action not in spec.actions:
        problems.error(("evaluation", "action"), f"names action {action!r}, which is not defined under actions "
                                                 f"(defined: {', '.join(spec.actions)}){did_you_mean(action, spec.actions)}")
    data = posixpath.normpath(posixpath.join(base, evaluation.data))
    gate = evaluation.gate
    if evaluation.score.kind != "label" and gate.min_macro_f1 is not None:
        problems.error(("evaluation", "gate", "min_macro_f1"), "macro-F1 is a figure of label scores; use score: "
                                                                "{kind: label, field: ...} or drop min_macro_f1")
    judge = None
    if evaluation.score.judge is not None:
        grader = evaluation.score.judge.model or spec.model
        if grader.provider == "python":
            problems.error(("evaluation", "score", "judge"), "a judge is a served model and the agent's model is "
                                                             "provider python: give judge.model (ollama, bedrock "
                                                             "or openai)")
        judge = JudgeModel(model_config(grader, region), evaluation.score.judge.rubric,
                           evaluation.score.judge.pass_score)
    offline = EvaluationModel(
        data_file=data, action=action, score_kind=evaluation.score.kind, score_field=evaluation.score.field,
        min_accuracy=gate.min_accuracy, min_macro_f1=gate.min_macro_f1, max_regression=gate.max_regression,
        alpha=gate.alpha, concurrency=evaluation.concurrency, limit=evaluation.limit, judge=judge,
    )
    online = evaluation.online
    if online is None:
        return offline, None
    threshold = spec.model.confidence_threshold
    if online.low_confidence and threshold is None:
        problems.error(("evaluation", "online", "low_confidence"), "comparing low-confidence shares needs "
                                                                   "model.confidence_threshold (the line below which "
                                                                   "an answer counts as low confidence)")
    labels = tuple(dict.fromkeys(online.labels))
    return offline, QualityGateModel(
        field=online.field, labels=labels, low_confidence=online.low_confidence, confidence_threshold=threshold,
        alpha=online.alpha, min_samples=online.min_samples, max_shift=online.max_shift,
        chi_square_critical=round(chi_square_critical(len(labels) - 1, online.alpha), 6) if len(labels) > 1 else 0.0,
        z_critical=round(NormalDist().inv_cdf(1 - online.alpha), 6),
    )
