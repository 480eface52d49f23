"""The emulator's operational log: one structlog JSON line per event, an optional console line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import structlog

from deployer.local.state.event_log import EventLog, _AppendFile, level_of

SHIFT = {"at": 1_764_144_000.0, "time": "2025-11-26T08:00:00Z", "kind": "shift",
         "message": "step 1/3: 5 % of traffic on version 2", "version": "2", "percent": 5.0}
ALARM = {"at": 1_764_144_060.0, "time": "2025-11-26T08:01:00Z", "kind": "alarm",
         "message": "alarm errors: OK -> ALARM (version 2): 30 % errors", "alarm": "errors", "state": "ALARM",
         "previous_state": "OK", "version": "2", "gates_rollout": True}


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_event_is_one_json_line_with_emulated_and_wall_time(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.log")
    log.emit(SHIFT, agent="router", environment="local")
    log.emit(ALARM, agent="router", environment="local")
    first, second = lines(tmp_path / "events.log")
    assert first["event"] == "shift" and first["message"] == SHIFT["message"]
    assert (first["agent"], first["environment"], first["level"]) == ("router", "local", "info")
    assert (first["at"], first["time"], first["version"], first["percent"]) == (SHIFT["at"], SHIFT["time"], "2", 5.0)
    assert isinstance(first["wall_time"], str) and first["wall_time"].endswith("Z")
    assert second["event"] == "alarm" and second["level"] == "warning"
    assert (second["alarm"], second["state"], second["previous_state"], second["gates_rollout"]) == (
        "errors", "ALARM", "OK", True)
    assert "kind" not in first  # the timeline's kind is the structlog event name


def test_lines_are_appended_across_instances_and_rebound_when_the_agent_changes(tmp_path: Path) -> None:
    EventLog(tmp_path / "events.log").emit(SHIFT, agent="router", environment="local")
    EventLog(tmp_path / "events.log").emit(SHIFT, agent="drafter", environment="staging")
    assert [(e["agent"], e["environment"]) for e in lines(tmp_path / "events.log")] == [
        ("router", "local"), ("drafter", "staging")]


def test_console_shows_one_plain_line_per_event_when_not_a_terminal(tmp_path: Path) -> None:
    console = io.StringIO()
    log = EventLog(tmp_path / "events.log", console=console)
    log.emit(SHIFT, agent="router", environment="local")
    log.emit(ALARM, agent="router", environment="local")
    shown = console.getvalue().splitlines()
    assert len(shown) == 2 and "\x1b[" not in console.getvalue()
    assert shown[0].startswith("2025-11-26T08:00:00Z [info") and str(SHIFT["message"]) in shown[0]
    assert "kind=shift" in shown[0] and "percent=5.0" in shown[0]
    assert "[warning" in shown[1] and "alarm=errors" in shown[1] and "gates_rollout" not in shown[1]


def test_no_global_structlog_configuration_is_changed(tmp_path: Path) -> None:
    before = structlog.get_config()
    EventLog(tmp_path / "events.log", console=io.StringIO()).emit(SHIFT, agent="router", environment="local")
    assert structlog.get_config() == before


def test_a_line_that_cannot_be_written_waits_and_is_written_first_once_it_can(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "gone" / "events.log")
    log.emit(SHIFT, agent="router", environment="local")  # the directory is missing: no error, the line waits
    assert (log.pending, log.dropped) == (1, 0) and log.retry() is False
    (tmp_path / "gone").mkdir()
    log.emit(ALARM, agent="router", environment="local")
    lines = [json.loads(line) for line in (tmp_path / "gone" / "events.log").read_text().splitlines()]
    assert [line["event"] for line in lines] == ["shift", "alarm"] and log.pending == 0


def test_unwritten_lines_are_bounded_and_the_lost_ones_counted(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "gone" / "events.log")
    keep = _AppendFile.KEEP_UNWRITTEN
    for _ in range(keep + 3):
        log.emit(SHIFT, agent="router", environment="local")
    assert (log.pending, log.dropped) == (keep, 3)


def test_levels_follow_the_event_kind() -> None:
    assert level_of({"kind": "deploy"}) == "info"
    assert level_of({"kind": "rollback"}) == "warning"
    assert level_of({"kind": "alarm", "state": "OK"}) == "info"
    assert level_of({"kind": "alarm", "state": "ALARM"}) == "warning"
