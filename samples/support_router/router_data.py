"""The BANKING77 messages, their intents and teams, and the fixed held-out split.

Standard library only: the evaluation runs without scikit-learn. The split is written once by
`train.py` to `data/holdout_ids.json` (row numbers of `data/train.csv`, 0-based, header
excluded) and read back by everything that evaluates, so nothing held out ever reaches training.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent
DATA_DIR = SAMPLE_DIR / "data"
MESSAGES_CSV = DATA_DIR / "train.csv"
TEAMS_JSON = DATA_DIR / "teams.json"
HOLDOUT_IDS = DATA_DIR / "holdout_ids.json"
ARTIFACT = SAMPLE_DIR / "model" / "router.json"


@dataclass(frozen=True)
class Example:
    row: int  # 0-based data row of train.csv: the example's stable id
    text: str
    intent: str
    team: str


def load_teams(path: Path = TEAMS_JSON) -> dict[str, str]:
    """intent -> team."""
    with path.open(encoding="utf-8") as handle:
        teams: dict[str, str] = json.load(handle)
    return teams


def load_examples(csv_path: Path = MESSAGES_CSV, teams_path: Path = TEAMS_JSON) -> list[Example]:
    teams = load_teams(teams_path)
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    unknown = sorted({row["category"] for row in rows} - teams.keys())
    if unknown:
        raise ValueError(f"{teams_path}: intents without a team: {', '.join(unknown)}")
    return [
        Example(row=i, text=row["text"], intent=row["category"], team=teams[row["category"]])
        for i, row in enumerate(rows)
    ]


def read_holdout_ids(path: Path = HOLDOUT_IDS) -> dict[str, object]:
    """The split file: `{"seed": int, "fraction": float, "rows": [int, ...]}`."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python samples/support_router/train.py` first")
    with path.open(encoding="utf-8") as handle:
        split: dict[str, object] = json.load(handle)
    return split


def split_examples(examples: list[Example], holdout_rows: set[int]) -> tuple[list[Example], list[Example]]:
    """(training, holdout) in file order."""
    training = [e for e in examples if e.row not in holdout_rows]
    holdout = [e for e in examples if e.row in holdout_rows]
    return training, holdout


def holdout_examples(path: Path = HOLDOUT_IDS) -> list[Example]:
    rows = read_holdout_ids(path)["rows"]
    assert isinstance(rows, list)
    return split_examples(load_examples(), {int(r) for r in rows})[1]
