"""The memory a request reports is the process's resident memory now, and follows a leak.

Allocations here are fresh anonymous mappings with every page touched: memory the allocator
might reuse from pages already resident would not move the figure, whatever the reader does.
"""

from __future__ import annotations

import mmap
import os
import subprocess
import sys

import pytest

import handlers.runtime as runtime

PAGE = mmap.PAGESIZE


def touched(mb: int) -> mmap.mmap:
    block = mmap.mmap(-1, mb * 1024 * 1024)
    for offset in range(0, len(block), PAGE):
        block[offset] = 1
    return block


def test_reported_memory_follows_allocation() -> None:
    before = runtime._memory_used_mb()
    block = touched(32)
    after = runtime._memory_used_mb()
    assert after - before >= 30, (before, after)
    block.close()


def test_a_child_started_by_a_big_parent_still_sees_its_own_growth() -> None:
    """ru_maxrss would start at the parent's peak (here the test runner's) and hide this."""
    ballast = touched(96)  # make the parent big
    code = ("import mmap, handlers.runtime as r\n"
            "a = r._memory_used_mb()\n"
            "m = mmap.mmap(-1, 24 * 1024 * 1024)\n"
            "for o in range(0, len(m), mmap.PAGESIZE): m[o] = 1\n"
            "print(r._memory_used_mb() - a)\n")
    grown = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert grown >= 22, grown
    ballast.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_reads_its_own_memory_not_the_parents() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: grow by fresh pages, report the growth it read
        try:
            a = runtime._memory_used_mb()
            block = touched(24)
            os.write(write, f"{runtime._memory_used_mb() - a}".encode())
            block.close()
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert float(os.read(read, 64)) >= 22
