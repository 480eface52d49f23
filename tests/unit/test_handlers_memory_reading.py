"""The memory a request reports is the process's resident memory now, and follows a leak."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import handlers.runtime as runtime


def test_reported_memory_follows_allocation() -> None:
    before = runtime._memory_used_mb()
    block = bytearray(b"\xa5") * (32 * 1024 * 1024)
    after = runtime._memory_used_mb()
    assert after - before >= 24, (before, after)
    del block


def test_a_child_started_by_a_big_parent_still_sees_its_own_growth() -> None:
    """ru_maxrss would start at the parent's peak (here the test runner's) and hide this."""
    ballast = bytearray(b"\xa5") * (96 * 1024 * 1024)  # make the parent big
    code = ("import handlers.runtime as r\n"
            "a = r._memory_used_mb()\n"
            "x = bytearray(b'\\xa5') * (24 * 1024 * 1024)\n"
            "print(r._memory_used_mb() - a)\n")
    grown = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert grown >= 18, grown
    del ballast


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads_its_own_memory_not_the_parents() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: grow, report the growth
        a = runtime._memory_used_mb()
        x = bytearray(b"\xa5") * (24 * 1024 * 1024)
        os.write(write, f"{runtime._memory_used_mb() - a}".encode())
        del x
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert float(os.read(read, 64)) >= 18
