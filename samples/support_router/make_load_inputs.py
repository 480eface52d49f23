"""Write `data/load_inputs.jsonl`: the load test's inputs, real held-out messages (stdlib only).

    .venv/bin/python samples/support_router/make_load_inputs.py

One JSON object per line, `{"message": ..., "weight": 1}`: the input of the `route` action plus
the weight a `distribution: weighted` load test draws by (agent.yaml `load_test.weight_field`).
Every held-out message appears once with weight 1, so the load follows the data's own mix of
intents and message lengths; raise a line's weight to over-represent it. Held-out rows only,
so a load test never replays training text.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from router_data import DATA_DIR, holdout_examples

OUT = DATA_DIR / "load_inputs.jsonl"


def main(out: Path = OUT) -> int:
    lines = [json.dumps({"message": e.text, "weight": 1}, ensure_ascii=False) for e in holdout_examples()]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} inputs to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
