"""The emulator's child processes (the telemetry sink, one worker per version): start, connect, end.

A child gets its command and environment, stdin closed, and stdout/stderr appended to its log
file. It connects back to a `multiprocessing.connection.Listener` on 127.0.0.1 that the parent
opened with a one-off key; `accept` takes those connections within a time limit; `Channel` is the
parent's end of one of them, for a request/reply on the hot path.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import threading
import time
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


class Channel:
    """The gateway's end of an environment's socket, in `multiprocessing.connection`'s framing.

    The worker reads and writes with `Connection.recv_bytes`/`send_bytes`; this end waits on the
    socket's own timeout instead of `Connection.poll`, which builds a selector per call (about a
    third of a request's round trip to the worker).
    """

    def __init__(self, conn: Connection) -> None:
        self.sock = socket.socket(fileno=os.dup(conn.fileno()))
        conn.close()

    def send(self, data: bytes) -> None:
        self.sock.settimeout(None)
        self.sock.sendall(struct.pack("!i", len(data)) + data if len(data) < 0x7FFFFFFF
                          else struct.pack("!iQ", -1, len(data)) + data)

    def recv(self, timeout_s: float) -> bytes:
        """One message within `timeout_s`; raises TimeoutError, or EOFError when the worker closed."""
        deadline = time.monotonic() + timeout_s
        (size,) = struct.unpack("!i", self._exactly(4, deadline))
        if size == -1:
            (size,) = struct.unpack("!Q", self._exactly(8, deadline))
        return self._exactly(size, deadline)

    def _exactly(self, size: int, deadline: float) -> bytes:
        parts, got = [], 0
        while got < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(min(size - got, 1 << 20))
            if not chunk:
                raise EOFError
            parts.append(chunk)
            got += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
