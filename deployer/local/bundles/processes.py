"""Ending the emulator's child processes."""

from __future__ import annotations

import subprocess
from typing import Any


def reap(proc: subprocess.Popen[Any] | None, *, grace_s: float) -> None:
    """Wait up to `grace_s` for a child that was asked to stop, then kill it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
