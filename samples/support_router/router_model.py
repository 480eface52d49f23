"""Pure-Python inference for the support router: no scikit-learn, no numpy.

`train.py` fits a TF-IDF (word 1-2 grams + character 2-5 grams inside word boundaries) and a
multinomial logistic regression with scikit-learn, then exports everything inference needs into
one JSON file (`model/router.json`). This module reproduces scikit-learn's analyzers and
`TfidfVectorizer(sublinear_tf=True, norm="l2")` with the standard library only, so the Lambda
bundle ships this file and the artifact and nothing heavy.

Scoring a message: analyse it into word and character n-grams, weight each known n-gram by
`(1 + ln tf) * idf`, L2-normalise each block, add the (sparse) class weights of each n-gram,
softmax over the 77 intents (with the temperature fitted by cross-validation, so probabilities
are calibrated), then sum the intent probabilities per team. If the artifact has a team head (a
second logistic regression, over the 9 teams, on the same features; `team_head` in the JSON),
the team probabilities are `(1 - w) * summed + w * softmax(team head)`, with its temperature
and `w` chosen by cross-validation. The router's confidence is the probability of the chosen
team: a message split between two intents of the same team is still routed with confidence.

The runtime reaches the model through `load(artifacts_dir, parameters)` (spec: `model.id:
router_model:load`) and calls `predict(text)` on what it returns.
"""

from __future__ import annotations

import array
import base64
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "support-router/1"
DEFAULT_ARTIFACT = "model/router.json"
#: Longest message scored, in characters; longer input is cut (tickets quote whole e-mail threads).
MAX_CHARS = 2000

_WORD_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's whitespace normalisation for char_wb


def word_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """scikit-learn's `analyzer="word"` with `lowercase=True` and the default token pattern."""
    tokens = _WORD_TOKEN.findall(text.lower())
    low, high = ngram_range
    grams: list[str] = list(tokens) if low == 1 else []
    for n in range(max(low, 2), high + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def char_wb_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """scikit-learn's `analyzer="char_wb"` with `lowercase=True` (same n-grams, same counts)."""
    low, high = ngram_range
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text.lower()).split():
        padded = f" {word} "
        length = len(padded)
        for n in range(low, high + 1):
            if length <= n:  # a short word counts once, as a whole
                grams.append(padded)
                break
            grams.extend(padded[i : i + n] for i in range(length - n + 1))
    return grams


def _decode(blob: str, typecode: str) -> list[Any]:
    values = array.array(typecode)
    values.frombytes(base64.b64decode(blob))
    if sys.byteorder != "little":
        values.byteswap()
    return values.tolist()


def encode_array(values: Iterable[float | int], typecode: str) -> str:
    """Base64 of a little-endian `array.array` (the artifact's packing; used by `train.py`)."""
    packed = array.array(typecode, values)
    if sys.byteorder != "little":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


@dataclass(frozen=True)
class _Block:
    """One TF-IDF vectorizer's vocabulary with its idf and sparse class weights (CSR by term).

    `team_*`: the same layout for the optional team head (weights over the teams), empty without it.
    """

    analyzer: str
    ngram_range: tuple[int, int]
    index: dict[str, int]
    idf: list[float]
    row_start: list[int]
    classes: list[int]
    weights: list[float]
    team_row_start: list[int]
    team_classes: list[int]
    team_weights: list[float]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Block:
        terms: list[str] = data["terms"]
        low, high = data["ngram_range"]
        has_team = "team_row_start" in data
        return cls(
            analyzer=data["analyzer"],
            ngram_range=(int(low), int(high)),
            index={term: i for i, term in enumerate(terms)},
            idf=_decode(data["idf"], "f"),
            row_start=_decode(data["row_start"], "I"),
            classes=_decode(data["classes"], "B"),
            weights=_decode(data["weights"], "f"),
            team_row_start=_decode(data["team_row_start"], "I") if has_team else [],
            team_classes=_decode(data["team_classes"], "B") if has_team else [],
            team_weights=_decode(data["team_weights"], "f") if has_team else [],
        )

    def features(self, text: str) -> list[tuple[int, float]]:
        """The message's L2-normalised TF-IDF values in this block: (term index, value)."""
        grams = (word_ngrams if self.analyzer == "word" else char_wb_ngrams)(text, self.ngram_range)
        found: list[tuple[int, float]] = []
        for gram, count in Counter(grams).items():
            i = self.index.get(gram)
            if i is not None:
                found.append((i, (1.0 + math.log(count)) * self.idf[i]))
        norm = math.sqrt(sum(value * value for _, value in found))
        if norm == 0.0:
            return []
        return [(i, value / norm) for i, value in found]

    def add_scores(self, text: str, scores: list[float]) -> None:
        _add(self.features(text), self.row_start, self.classes, self.weights, scores)


def _add(
    found: list[tuple[int, float]], row_start: list[int], classes: list[int], weights: list[float], scores: list[float]
) -> None:
    for i, scaled in found:
        start, end = row_start[i], row_start[i + 1]
        for k, weight in zip(classes[start:end], weights[start:end], strict=True):
            scores[k] += scaled * weight


def _softmax(scores: list[float], temperature: float) -> list[float]:
    top = max(scores)
    inverse_t = 1.0 / temperature
    exps = [math.exp((s - top) * inverse_t) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


class RouterModel:
    """The exported router: `predict(text)` -> the provider result the runtime expects."""

    def __init__(self, artifact: Mapping[str, Any], *, top_k: int = 3) -> None:
        if artifact.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} artifact (format={artifact.get('format')!r})")
        self.intents: list[str] = list(artifact["intents"])
        self.teams: list[str] = list(artifact["teams"])
        intent_team: Mapping[str, str] = artifact["intent_team"]
        self.team_of: list[int] = [self.teams.index(intent_team[name]) for name in self.intents]
        self.intercept: list[float] = [float(b) for b in artifact["intercept"]]
        self.temperature = float(artifact.get("temperature", 1.0))  # calibration, fitted by train.py
        self.blocks = [_Block.from_json(block) for block in artifact["blocks"]]
        # Optional team head: a 9-class model on the same features, blended into the team probabilities.
        head: Mapping[str, Any] = artifact.get("team_head") or {}
        self.team_weight = float(head.get("weight", 0.0))
        self.team_intercept: list[float] = [float(b) for b in head.get("intercept", [0.0] * len(self.teams))]
        self.team_temperature = float(head.get("temperature", 1.0))
        self.metadata: dict[str, Any] = dict(artifact.get("metadata", {}))
        self.top_k = top_k

    def intent_probabilities(self, text: str) -> list[float]:
        """Softmax over the intents, in `self.intents` order."""
        return self._probabilities(text)[0]

    def _probabilities(self, text: str) -> tuple[list[float], list[float]]:
        """(intent probabilities, team probabilities); the second blends in the team head if any."""
        scores = list(self.intercept)
        team_scores = list(self.team_intercept)
        text = text[:MAX_CHARS]
        for block in self.blocks:
            found = block.features(text)
            _add(found, block.row_start, block.classes, block.weights, scores)
            if self.team_weight > 0.0:
                _add(found, block.team_row_start, block.team_classes, block.team_weights, team_scores)
        probs = _softmax(scores, self.temperature)
        team_probs = [0.0] * len(self.teams)
        for i, p in enumerate(probs):
            team_probs[self.team_of[i]] += p
        if self.team_weight > 0.0:
            w = self.team_weight
            head = _softmax(team_scores, self.team_temperature)
            team_probs = [(1.0 - w) * p + w * q for p, q in zip(team_probs, head, strict=True)]
        return probs, team_probs

    def predict(self, text: str) -> dict[str, Any]:
        if not isinstance(text, str):
            raise TypeError(f"message must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError("message is empty: send the customer's text in the 'message' field")
        probs, team_probs = self._probabilities(text)
        team = max(range(len(self.teams)), key=team_probs.__getitem__)
        # The intent reported is the likeliest one inside the chosen team, so they always agree.
        intent = max((i for i in range(len(probs)) if self.team_of[i] == team), key=probs.__getitem__)
        ranked = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)[: self.top_k]
        alternatives = [
            {"intent": self.intents[i], "team": self.teams[self.team_of[i]], "probability": round(probs[i], 4)}
            for i in ranked
        ]
        return {
            "output": {
                "team": self.teams[team],
                "intent": self.intents[intent],
                "intent_probability": probs[intent],
                "alternatives": alternatives,
            },
            "confidence": team_probs[team],
            "input_tokens": 0,
            "output_tokens": 0,
        }


def load_artifact(path: Path, *, top_k: int = 3) -> RouterModel:
    with path.open("r", encoding="utf-8") as handle:
        return RouterModel(json.load(handle), top_k=top_k)


def load(artifacts_dir: Path, parameters: Mapping[str, Any] | None = None) -> RouterModel:
    """Entry point named by the spec (`model.id: router_model:load`).

    `parameters` (the spec's `model.parameters`) may set `artifact` (a path relative to the code
    root, default `model/router.json`) and `top_k` (alternatives returned, default 3).
    """
    params = dict(parameters or {})
    path = Path(artifacts_dir) / str(params.get("artifact", DEFAULT_ARTIFACT))
    if not path.is_file():
        raise FileNotFoundError(
            f"router artifact not found at {path}: train it with `python samples/support_router/train.py`"
        )
    return load_artifact(path, top_k=int(params.get("top_k", 3)))
