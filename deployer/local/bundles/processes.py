"""The emulator's child processes (the telemetry sink, one worker per version): start, connect, end.

A child gets its command and environment, stdin closed, and stdout/stderr appended to its log
file. It connects back to a `multiprocessing.connection.Listener` on 127.0.0.1 that the parent
opened with a one-off key; `accept` takes those connections within a time limit.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any


def spawn(command: list[str], *, env: dict[str, str], log_path: Path | None, cwd: str | None = None) -> subprocess.Popen[bytes]:
    """Start a child; its output goes to `log_path` (appended), or nowhere."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    finally:
        if log is not subprocess.DEVNULL:
            log.close()  # type: ignore[union-attr]


def accept(listener: Listener, count: int, *, timeout_s: float) -> list[Connection]:
    """The connections (up to `count`) that reach `listener` within `timeout_s`; closes it."""
    accepted: list[Connection] = []

    def run() -> None:
        with contextlib.suppress(OSError):  # the listener closed at the deadline
            for _ in range(count):
                accepted.append(listener.accept())

    acceptor = threading.Thread(target=run, daemon=True)
    acceptor.start()
    acceptor.join(timeout_s)
    listener.close()
    return accepted


def reap(proc: subprocess.Popen[Any] | None, *, grace_s: float) -> None:
    """Wait up to `grace_s` for a child that was asked to stop, then kill it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
