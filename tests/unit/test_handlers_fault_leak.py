"""The injected leak must show in the memory figure the runtime reports per request."""

from __future__ import annotations

import random
import subprocess
import sys


def test_a_small_per_request_leak_grows_resident_memory() -> None:
    code = (
        "import random\n"
        "from handlers.faults import Faults\n"
        "from handlers.runtime import _memory_used_mb\n"
        "f = Faults(leak_kb=64)\n"
        "before = _memory_used_mb()\n"
        "rng = random.Random(1)\n"
        "for _ in range(400):\n"
        "    f.before_action(rng)\n"
        "print(_memory_used_mb() - before)\n"
    )
    grown_mb = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert grown_mb >= 0.8 * 400 * 64 / 1024  # 25 MB injected; at least 80 % of it resident


def test_no_leak_configured_retains_nothing() -> None:
    from handlers.faults import Faults, leaked_kb

    before = leaked_kb()
    Faults().before_action(random.Random(1))
    assert leaked_kb() == before
