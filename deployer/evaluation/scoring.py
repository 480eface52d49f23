"""Scoring answers against expected ones: per-example verdicts, then the figures of a whole set.

An example is `{"input": {...}, "expected": {...} | "text"}` (JSON lines). How an answer is scored
comes from the spec's `evaluation.score`:

- `label` (a field of a structured answer holding a class): right when equal; the set reports
  accuracy, macro-F1, precision/recall/F1 per class and a confusion table;
- `exact` (a field, or the whole answer): right when equal; accuracy;
- `contains` / `regex` (text): right when the expected text is in the answer / the pattern matches;
- `judge`: a judge model's 0-1 score (run by the runner, not here).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def field_of(value: Any, path: str | None) -> Any:
    """`value["a"]["b"]` for path "a.b"; the value itself without a path; None when absent."""
    if not path:
        return value
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def correct(kind: str, answer: Any, expected: Any, *, field: str | None = None) -> bool:
    """Is one answer right? (`judge` is scored by a model, not here.)"""
    got, want = field_of(answer, field), field_of(expected, field) if isinstance(expected, Mapping) else expected
    if kind in ("label", "exact"):
        return got is not None and got == want
    text = got if isinstance(got, str) else "" if got is None else str(got)
    if kind == "contains":
        return str(want).casefold() in text.casefold()
    if kind == "regex":
        return re.search(str(want), text) is not None
    raise ValueError(f"unknown scoring kind {kind!r}")


@dataclass(frozen=True)
class ClassFigures:
    label: str
    support: int  # examples whose expected label is this one
    predicted: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class LabelFigures:
    n: int
    accuracy: float
    macro_f1: float
    classes: tuple[ClassFigures, ...]
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # expected -> predicted -> count

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": self.accuracy, "macro_f1": self.macro_f1,
                "classes": [c.__dict__ for c in self.classes], "confusion": self.confusion}


def label_figures(expected: Sequence[str], predicted: Sequence[str | None]) -> LabelFigures:
    """Accuracy, macro-F1 (mean F1 over the expected classes) and the confusion table."""
    if len(expected) != len(predicted):
        raise ValueError("one prediction per example")
    n = len(expected)
    shown = ["(none)" if p is None else str(p) for p in predicted]
    confusion: dict[str, dict[str, int]] = {}
    for want, got in zip(expected, shown, strict=True):
        row = confusion.setdefault(str(want), {})
        row[got] = row.get(got, 0) + 1
    support, predicted_count = Counter(map(str, expected)), Counter(shown)
    classes = []
    for label in sorted(support):
        hits = confusion.get(label, {}).get(label, 0)
        precision = hits / predicted_count[label] if predicted_count[label] else 0.0
        recall = hits / support[label]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        classes.append(ClassFigures(label, support[label], predicted_count[label], precision, recall, f1))
    accuracy = sum(1 for want, got in zip(expected, shown, strict=True) if str(want) == got) / n if n else 0.0
    macro = sum(c.f1 for c in classes) / len(classes) if classes else 0.0
    return LabelFigures(n, accuracy, macro, tuple(classes), confusion)
