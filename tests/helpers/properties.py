"""How many examples a property-based test draws: its own count, ten times it under `make fuzz`."""

from __future__ import annotations

import os

#: `make fuzz` sets HYPOTHESIS_PROFILE=explore (tests/conftest.py): new examples each run, and more.
EXPLORING = os.environ.get("HYPOTHESIS_PROFILE") == "explore"


def examples(count: int) -> int:
    return count * 10 if EXPLORING else count
