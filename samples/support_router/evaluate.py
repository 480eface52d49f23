"""Evaluate the exported router on the held-out split, with the standard library only.

    .venv/bin/python samples/support_router/evaluate.py                  # table on stdout
    .venv/bin/python samples/support_router/evaluate.py --json out.json  # and the figures as JSON

It scores the shipped artifact (`model/router.json`) through `router_model.py`, exactly as the
Lambda does, on the rows listed in `data/holdout_ids.json` (kept out of training by `train.py`).
Reported: intent accuracy, team accuracy, the share routed automatically (confidence at or above
the threshold) and the team accuracy on that share, and per-team precision and recall.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from router_data import ARTIFACT, HOLDOUT_IDS, SAMPLE_DIR, Example, holdout_examples
from router_model import RouterModel, load_artifact


@dataclass(frozen=True)
class Prediction:
    example: Example
    team: str
    intent: str
    confidence: float


def predict_all(model: RouterModel, examples: Sequence[Example]) -> list[Prediction]:
    out = []
    for example in examples:
        result = model.predict(example.text)
        output = result["output"]
        out.append(Prediction(example, output["team"], output["intent"], float(result["confidence"])))
    return out


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def evaluate(predictions: Sequence[Prediction], threshold: float) -> dict[str, Any]:
    """The figures of one run; `threshold` is the confidence at or above which a message is auto-routed."""
    total = len(predictions)
    if total == 0:
        raise ValueError("no predictions to evaluate")
    team_ok = [p.team == p.example.team for p in predictions]
    routed = [i for i, p in enumerate(predictions) if p.confidence >= threshold]
    teams = sorted({p.example.team for p in predictions} | {p.team for p in predictions})
    per_team: dict[str, dict[str, Any]] = {}
    for team in teams:
        predicted = sum(1 for p in predictions if p.team == team)
        actual = sum(1 for p in predictions if p.example.team == team)
        hits = sum(1 for p in predictions if p.team == team and p.example.team == team)
        routed_team = [i for i in routed if predictions[i].team == team]
        per_team[team] = {
            "support": actual,
            "precision": _ratio(hits, predicted),
            "recall": _ratio(hits, actual),
            "auto_routed_precision": _ratio(sum(team_ok[i] for i in routed_team), len(routed_team)),
        }
    escalated = total - len(routed)
    return {
        "examples": total,
        "threshold": threshold,
        "intent_accuracy": sum(p.intent == p.example.intent for p in predictions) / total,
        "team_accuracy": sum(team_ok) / total,
        "auto_routed_share": len(routed) / total,
        "auto_routed_accuracy": _ratio(sum(team_ok[i] for i in routed), len(routed)),
        "escalated": escalated,
        "escalated_team_accuracy": _ratio(sum(team_ok) - sum(team_ok[i] for i in routed), escalated),
        "per_team": per_team,
    }


def _pct(value: float | None) -> str:
    return "   n/a" if value is None else f"{100 * value:6.2f}"


def render(report: dict[str, Any]) -> str:
    lines = [
        f"held-out messages        {report['examples']}",
        f"intent accuracy          {_pct(report['intent_accuracy'])} %",
        f"team accuracy            {_pct(report['team_accuracy'])} %",
        f"confidence threshold     {report['threshold']}",
        f"auto-routed share        {_pct(report['auto_routed_share'])} %",
        f"auto-routed accuracy     {_pct(report['auto_routed_accuracy'])} %",
        f"escalated to a human     {report['escalated']}",
        "",
        f"{'team':<28}{'support':>8}{'precision':>11}{'recall':>9}{'auto prec':>11}",
    ]
    for team, row in report["per_team"].items():
        lines.append(
            f"{team:<28}{row['support']:>8}{_pct(row['precision']):>11}{_pct(row['recall']):>9}"
            f"{_pct(row['auto_routed_precision']):>11}"
        )
    return "\n".join(lines)


def spec_threshold(spec: Path) -> float | None:
    """`model.confidence_threshold` of an agent.yaml, read without a YAML parser (one line)."""
    in_model = False
    for line in spec.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace():
            in_model = line.startswith("model:")
        elif in_model and line.strip().startswith("confidence_threshold:"):
            return float(line.split(":", 1)[1].split("#", 1)[0].strip())
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", type=Path, default=ARTIFACT)
    parser.add_argument("--holdout", type=Path, default=HOLDOUT_IDS)
    parser.add_argument("--threshold", type=float, default=None,
                        help="default: model.confidence_threshold of the root agent.yaml, else the artifact's")
    parser.add_argument("--spec", type=Path, default=SAMPLE_DIR.parent.parent / "agent.yaml")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    model = load_artifact(args.artifact)
    threshold = args.threshold
    if threshold is None and args.spec.is_file():
        threshold = spec_threshold(args.spec)
    if threshold is None:
        threshold = float(model.metadata.get("confidence_threshold", 0.5))
    report = evaluate(predict_all(model, holdout_examples(args.holdout)), threshold)
    report["artifact"] = args.artifact.name
    report["model"] = {k: v for k, v in model.metadata.items() if k != "dataset"}
    print(render(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
