"""Run an evaluation set through deployed versions, resumably, and judge the candidate.

Every example is a normal request to the version (the emulator's gateway with the version
pinned, or `lambda:Invoke` with the version qualifier in AWS), marked as a replay so that it is
recorded but kept out of the production metrics the alarms watch. Answers are appended to a
checkpoint file as they come; an interrupted run resumes from it (same data set, same versions).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.compiled import EvaluationModel
from deployer.errors import DeployerError
from deployer.evaluation.scoring import LabelFigures, correct, field_of, label_figures
from deployer.evaluation.significance import PairedResult, mcnemar_exact, paired_bootstrap
from deployer.jsonlines import JsonLinesFile

MAX_DATA_BYTES = 64 * 1024 * 1024
MAX_EXAMPLES = 1_000_000
CHANGED_SHOWN = 50


@dataclass(frozen=True)
class Example:
    index: int  # 0-based line number of the data file (blank lines included)
    input: Any
    expected: Any


#: One request to one version: (status, output). `deployer.ops.replay.Invoker` adapts to it.
Answering = Callable[[Example, str], tuple[int, Any]]
#: A judge's grade of one answer: (example, status, output) -> 0..1.
Grading = Callable[[Example, int, Any], float]


def load_examples(path: str | Path, *, limit: int | None = None) -> tuple[list[Example], str]:
    """The examples of a JSON-lines file and its content hash; every bad line is reported at once."""
    examples: list[Example] = []
    wanted = min(limit or MAX_EXAMPLES, MAX_EXAMPLES)
    with JsonLinesFile(path, what="evaluation set", max_bytes=MAX_DATA_BYTES,
                       hint=f"evaluation.data is a JSON-lines file relative to agent.yaml, of at most "
                            f"{MAX_DATA_BYTES // 2**20} MB") as source:
        for number, item in source.objects('{"input": ..., "expected": ...}'):
            if "input" not in item or "expected" not in item:
                source.problem(number, 'each line must be {"input": ..., "expected": ...}')
                continue
            examples.append(Example(number - 1, item["input"], item["expected"]))
            if len(examples) >= wanted:
                break
        source.check("the evaluation set has bad lines:")
        digest = source.sha256()
    if not examples:
        raise DeployerError(f"{source.path} holds no examples",
                            hint='one JSON object per line: {"input": ..., "expected": ...}')
    return examples, digest[:16]


class Checkpoint:
    """Answers so far, one JSON line each: `{"set", "version", "index", "status", "output"}` and,
    graded by a judge, `"score"`."""

    def __init__(self, path: Path, data_hash: str) -> None:
        self.path, self.data_hash = path, data_hash
        self._lock = threading.Lock()
        self.answers: dict[tuple[str, int], tuple[int, Any]] = {}
        self.scores: dict[tuple[str, int], float] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    continue  # a line cut by an interrupt: asked again
                if item.get("set") == data_hash:
                    key = (str(item["version"]), int(item["index"]))
                    self.answers[key] = (int(item["status"]), item.get("output"))
                    if isinstance(item.get("score"), (int, float)):
                        self.scores[key] = float(item["score"])
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, version: str, index: int, status: int, output: Any, score: float | None = None) -> None:
        line = json.dumps({"set": self.data_hash, "version": version, "index": index, "status": status,
                           "output": output, **({"score": score} if score is not None else {})}, default=str)
        with self._lock:
            self.answers[(version, index)] = (status, output)
            if score is not None:
                self.scores[(version, index)] = score
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")


def answer_all(examples: Sequence[Example], versions: Sequence[str], ask: Answering, checkpoint: Checkpoint, *,
               concurrency: int, progress: Callable[[int, int], None] | None = None,
               grade: Grading | None = None) -> None:
    """Ask every version every example not yet in the checkpoint (and have `grade` score it), at
    most `concurrency` at a time.

    Ctrl-C stops sending, lets what is in flight finish into the checkpoint, and re-raises: the next
    run resumes."""
    done_already = checkpoint.scores if grade is not None else checkpoint.answers
    todo = [(v, e) for v in versions for e in examples if (v, e.index) not in done_already]
    total, done = len(examples) * len(versions), len(examples) * len(versions) - len(todo)
    if progress:
        progress(done, total)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval") as pool:
        pending: set[Future[None]] = set()
        queue = iter(todo)
        try:
            for version, example in queue:
                if len(pending) >= concurrency:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        future.result()
                        done += 1
                        if progress:
                            progress(done, total)
                pending.add(pool.submit(_ask_one, ask, checkpoint, version, example, grade))
            for future in pending:
                future.result()
                done += 1
                if progress:
                    progress(done, total)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _ask_one(ask: Answering, checkpoint: Checkpoint, version: str, example: Example, grade: Grading | None) -> None:
    status, output = ask(example, version)
    checkpoint.add(version, example.index, status, output, grade(example, status, output) if grade else None)


@dataclass
class VersionFigures:
    version: str
    n: int
    accuracy: float
    errors: int  # requests that did not answer (status >= 400)
    labels: LabelFigures | None = None
    mean_score: float | None = None  # judge scores: the mean grade (accuracy: the share at pass_score or above)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "n": self.n, "accuracy": self.accuracy, "errors": self.errors,
                "labels": self.labels.to_dict() if self.labels else None, "mean_score": self.mean_score}


@dataclass
class Verdict:
    passed: bool
    reasons: list[str]
    candidate: VersionFigures
    stable: VersionFigures | None = None
    paired: PairedResult | None = None
    changed: list[dict[str, Any]] = field(default_factory=list)  # examples whose verdict changed

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": self.reasons, "candidate": self.candidate.to_dict(),
                "stable": self.stable.to_dict() if self.stable else None,
                "paired": self.paired.to_dict() if self.paired else None, "changed": self.changed}


def judge(examples: Sequence[Example], model: EvaluationModel, answers: dict[tuple[str, int], tuple[int, Any]],
          candidate: str, stable: str | None, scores: dict[tuple[str, int], float] | None = None) -> Verdict:
    """Score every answer, compare the candidate with the stable version (paired), apply the gate.

    Judge scores (`scores`, 0..1 per answer) are compared with a paired bootstrap of the mean grade;
    right/wrong verdicts with McNemar's exact test."""
    graded = model.score_kind == "judge"

    def figures(version: str) -> tuple[VersionFigures, list[bool], list[float]]:
        right, predicted, grades, errors = [], [], [], 0
        for e in examples:
            status, output = answers[(version, e.index)]
            errors += status >= 400
            if graded:
                grade = (scores or {}).get((version, e.index), 0.0)
                grades.append(grade)
                ok = status < 400 and model.judge is not None and grade >= model.judge.pass_score
            else:
                ok = status < 400 and correct(model.score_kind, output, e.expected, field=model.score_field)
            right.append(ok)
            predicted.append(None if status >= 400 else field_of(output, model.score_field))
        labels = None
        if model.score_kind == "label":
            expected = [str(field_of(e.expected, model.score_field)) for e in examples]
            labels = label_figures(expected, [None if p is None else str(p) for p in predicted])
        mean = sum(grades) / len(grades) if graded and grades else None
        return VersionFigures(version, len(examples), sum(right) / len(examples), errors, labels, mean), right, grades

    ours, ours_right, ours_grades = figures(candidate)
    reasons: list[str] = []
    what = "share graded at pass_score or above" if graded else "accuracy"
    if model.min_accuracy is not None and ours.accuracy < model.min_accuracy:
        reasons.append(f"{what} {ours.accuracy:.3f} is below the floor {model.min_accuracy:g}")
    if model.min_macro_f1 is not None and ours.labels and ours.labels.macro_f1 < model.min_macro_f1:
        reasons.append(f"macro-F1 {ours.labels.macro_f1:.3f} is below the floor {model.min_macro_f1:g}")
    if stable is None or stable == candidate:
        return Verdict(not reasons, reasons, ours)
    theirs, theirs_right, theirs_grades = figures(stable)
    detectable = model.max_regression or 0.01
    if graded:
        paired = paired_bootstrap(theirs_grades, ours_grades, alpha=model.alpha, detectable=detectable)
        drop = -paired.difference
        if paired.significant_drop and drop > model.max_regression:
            reasons.append(f"mean judge grade dropped {drop:.3f} against version {stable} ({paired.stable:.3f} -> "
                           f"{paired.candidate:.3f}; paired bootstrap p = {paired.p_value:.3g} < {model.alpha:g}), "
                           f"more than the {model.max_regression:g} allowed")
    else:
        paired = mcnemar_exact(theirs_right, ours_right, alpha=model.alpha, detectable=detectable)
        drop = -paired.difference
        if paired.significant_drop and drop > model.max_regression:
            reasons.append(f"accuracy dropped {drop:.3f} against version {stable} ({theirs.accuracy:.3f} -> "
                           f"{ours.accuracy:.3f}; McNemar p = {paired.p_value:.3g} < {model.alpha:g}), more than the "
                           f"{model.max_regression:g} allowed")
    changed: list[dict[str, Any]] = []
    for e, was, now in zip(examples, theirs_right, ours_right, strict=True):
        if was != now and len(changed) < CHANGED_SHOWN:
            changed.append({"index": e.index, "input": e.input, "expected": e.expected, "was_right": was,
                            "stable": answers[(stable, e.index)][1], "candidate": answers[(candidate, e.index)][1]})
    return Verdict(not reasons, reasons, ours, theirs, paired, changed)
