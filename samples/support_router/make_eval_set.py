"""Write the router's evaluation set from the held-out split, and nothing else.

    .venv/bin/python samples/support_router/make_eval_set.py [--limit 600]

`data/eval.jsonl` holds one line per held-out message (the rows of `data/holdout_ids.json`, which
`train.py` kept out of training): `{"input": {"message": ...}, "expected": {"team": ..., "intent":
...}, "row": N}`. Standard library only; the same split `evaluate.py` scores. The lines are in a
fixed shuffled order (seed 2020), so any first N lines (`evaluation.limit`, `deployer eval --limit`)
are a fair sample of the teams, not the first intents of the file.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from router_data import DATA_DIR, load_examples, read_holdout_ids

EVAL_SET = DATA_DIR / "eval.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="keep N held-out rows")
    parser.add_argument("--out", type=Path, default=EVAL_SET)
    args = parser.parse_args(argv)
    held_out = set(read_holdout_ids()["rows"])  # type: ignore[arg-type]
    examples = [e for e in load_examples() if e.row in held_out]
    random.Random(2020).shuffle(examples)
    examples = examples[: args.limit]
    with args.out.open("w", encoding="utf-8") as handle:
        for e in examples:
            handle.write(json.dumps({"input": {"message": e.text}, "expected": {"team": e.team, "intent": e.intent},
                                     "row": e.row}) + "\n")
    print(f"wrote {len(examples)} held-out examples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
