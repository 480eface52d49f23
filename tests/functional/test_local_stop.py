"""Starting and stopping `deployer local up` safely: signals in a row never deadlock it, it
leaves no process behind, a stale emulator.json never blocks the next start, and a corrupt state
file is a message naming it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployer.local.front.deploy import deploy_local
from deployer.local.front.discovery import find_emulator, state_dir_for
from tests.helpers.agent_fixtures import compile_project, write_project

REPO = Path(__file__).resolve().parents[2]
DEPLOYER = [str(Path(sys.executable).with_name("deployer"))]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1",
       "DEPLOYER_CACHE_DIR": os.environ.get("DEPLOYER_CACHE_DIR") or str(REPO / ".deployer" / "cache")}


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, sample_rate=1.0)


def start(project: Path) -> subprocess.Popen[str]:
    """`local up` as the leader of its own process group (a stop script signals the group)."""
    proc = subprocess.Popen([*DEPLOYER, "local", "up", "--time-scale", "600"], cwd=project.parent, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 90
    while find_emulator(state_dir_for(project)) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.stdout.read() if proc.stdout else "local up did not come up")
        time.sleep(0.2)
    return proc


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pids: set[int], timeout_s: float = 30.0) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = {p for p in pids if running(p)}
        if not left:
            return left
        time.sleep(0.1)
    return {p for p in pids if running(p)}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_signals_in_a_row_stop_everything_and_the_next_start_works(project: Path) -> None:
    proc = start(project)
    try:
        deploy_local(compile_project(project), spec_path=project)  # a worker process for version 1
        children = descendants(proc.pid)
        assert len(children) >= 3, children  # moto, the telemetry sink, version 1's worker
        os.killpg(proc.pid, signal.SIGTERM)  # what the stop script did: the group, then the pid
        os.kill(proc.pid, signal.SIGTERM)
        os.kill(proc.pid, signal.SIGINT)
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=90)  # it deadlocked here before
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert out.rstrip().endswith("stopped")
    assert wait_gone(children) == set()
    assert not (state_dir_for(project) / "emulator.json").exists()

    again = start(project)  # and the next start is not refused
    try:
        assert find_emulator(state_dir_for(project))["pid"] == again.pid  # type: ignore[index]
        more = descendants(again.pid)
        again.send_signal(signal.SIGINT)
        out, _ = again.communicate(timeout=90)
        assert again.returncode == 0, out
        assert wait_gone(more) == set()
    finally:
        if again.poll() is None:
            again.kill()


def test_a_stale_discovery_file_never_blocks_a_start(project: Path) -> None:
    state = state_dir_for(project)
    state.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for pid in (dead.pid, os.getpid()):  # a dead process, and a live one that is no emulator
        (state / "emulator.json").write_text(json.dumps({"pid": pid, "control_url": "http://127.0.0.1:9",
                                                         "gateway_url": "http://127.0.0.1:9"}))
        proc = start(project)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0 and out.rstrip().endswith("stopped"), out


def test_stop_signals_only_note_each_signal_and_restore_the_handlers() -> None:
    from deployer.commands.local import StopSignals

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)  # handled between bytecodes, in this (the main) thread
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.wait(poll_s=5) == signal.SIGINT
        assert signals.received == [signal.SIGINT, signal.SIGTERM, signal.SIGINT]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_corrupt_state_file_at_start_is_a_message_not_a_traceback(project: Path) -> None:
    state = state_dir_for(project)
    state.mkdir(parents=True)
    (state / "state.json").write_text("{not json")
    result = subprocess.run([*DEPLOYER, "local", "up"], cwd=project.parent, env=ENV, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert f"{state / 'state.json'} is corrupt" in result.stderr and "Traceback" not in result.stderr
    assert f"mv {state / 'state.json'}" in result.stderr
    assert (state / "state.json").read_text() == "{not json"
