"""The emulator's request log on its own (`RequestLog`): the journal, its bound, a disk that refuses, ids reused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deployer.local.state.request_log import RequestLog


def record(request_id: str, ts: int, **extra: Any) -> dict[str, Any]:
    return {"event": "request", "request_id": request_id, "ts": ts, "action": "route", "version": "1",
            "status": 200, "outcome": "ok", **extra}


def keys(items: list[dict[str, Any]]) -> list[str]:
    return [i["request_id"]["S"] for i in items]


def test_records_go_to_moto_and_the_journal_and_come_back_after_a_restart(tmp_path: Path) -> None:
    log = RequestLog(tmp_path, ttl_days=7, limit=100)
    assert list(log.load()) == []
    log.add_item({"request_id": {"S": "deploy#local#1"}, "outcome": {"S": "deploy"}, "ts": {"N": "1"}})
    for i in range(3):
        log.add_record(record(f"r-{i}", 1000 + i))
    assert log.persist()
    puts, deletes = log.take()
    assert keys(puts) == ["deploy#local#1", "r-0", "r-1", "r-2"] and deletes == []
    again = RequestLog(tmp_path, ttl_days=7, limit=100)
    assert [keys(chunk) for chunk in again.load()] == [["deploy#local#1", "r-0", "r-1", "r-2"]]
    assert again.stats()["kept"] == 3 and again.stats()["deploy_records"] == 1


def test_a_reused_id_is_renamed_and_a_repeated_record_is_not(tmp_path: Path) -> None:
    log = RequestLog(tmp_path, ttl_days=7, limit=100)
    list(log.load())
    log.add_record(record("client", 1000))
    log.add_record(record("client", 2000))
    log.add_record(record("client", 1000))  # the same request again: it overwrites only itself
    log.add_record(record("deploy#local#1", 3000))  # a request id never takes a deploy record's key
    puts, _ = log.take()
    assert keys(puts) == ["client", "client~2", "client", keys(puts)[3]]
    assert keys(puts)[3].startswith("invalid-")
    assert log.stats()["written"] == 3 and log.stats()["renamed"] == 1


def test_the_oldest_segment_goes_past_the_bound_from_disk_and_from_moto(tmp_path: Path) -> None:
    log = RequestLog(tmp_path, ttl_days=7, limit=10)  # segments of one record
    list(log.load())
    for i in range(15):
        log.add_record(record(f"r-{i:02d}", 1000 + i))
    log.persist()
    _, deletes = log.take()
    assert [d["request_id"]["S"] for d in deletes] == [f"r-{i:02d}" for i in range(5)]
    assert len(list(tmp_path.glob("requests-*.jsonl"))) == 10
    stats = log.stats()
    assert (stats["kept"], stats["dropped"], stats["oldest_dropped_ts"]) == (10, 5, 1004)
    assert "keeps the newest 10 request records" in str(log.why_missing("r-00"))
    assert log.why_missing("r-14") is None


def test_a_disk_that_refuses_keeps_the_records_until_it_takes_them(tmp_path: Path) -> None:
    directory = tmp_path / "request-log"
    log = RequestLog(directory, ttl_days=7, limit=100)
    list(log.load())
    directory.rmdir()
    directory.write_text("not a directory")  # every write into it now fails
    log.add_record(record("r-1", 1000))
    assert log.persist() is False and log.stats()["unjournaled"] == 1 and log.journal_error
    assert keys(log.take()[0]) == ["r-1"]  # moto gets it meanwhile
    directory.unlink()
    log.add_record(record("r-2", 2000))
    assert log.persist() is True and log.journal_error is None
    lines = [json.loads(line)["request_id"]["S"] for line in (directory / "requests-000001.jsonl").read_text().splitlines()]
    assert lines == ["r-1", "r-2"]


def test_a_torn_journal_line_is_skipped_and_counted(tmp_path: Path) -> None:
    log = RequestLog(tmp_path, ttl_days=7, limit=100)
    list(log.load())
    log.add_record(record("r-1", 1000))
    log.persist()
    with (tmp_path / "requests-000001.jsonl").open("a") as handle:
        handle.write('{"request_id": {"S": "r-2"}, "ts"')  # the emulator was killed mid-write
    again = RequestLog(tmp_path, ttl_days=7, limit=100)
    assert [keys(chunk) for chunk in again.load()] == [["r-1"]] and again.stats()["unreadable"] == 1
    again.add_record(record("r-3", 3000))
    again.persist()  # the next item does not run into the torn line
    third = RequestLog(tmp_path, ttl_days=7, limit=100)
    assert [keys(chunk) for chunk in third.load()] == [["r-1", "r-3"]]
