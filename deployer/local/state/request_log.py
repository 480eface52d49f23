"""The emulator's request log: kept on disk with the rest of the state, served from moto DynamoDB.

In AWS a log subscription (`handlers.recorder`) turns each request-record line into an item of the
request-log table. Here the telemetry sink process (`state.sink`) hands each record to `RequestLog`,
which applies the same rules (`handlers.recorder.prepare_item`: sanitised, shrunk under 400 KB or
quarantined, one at a time) and the same reuse rule (a request id another request holds becomes
`<id>~2`...), appends the item to a journal under `<state dir>/request-log/`, and gives it to moto
in bulk (`moto_server`'s loader). On start the journal is loaded back into moto: `deployer errors`,
`replay` and `debug` find what they found before a restart.

Files (one JSON item per line, DynamoDB's low-level format):

- `requests-000001.jsonl`, ...: request records, in segments of `limit // 10`; past `limit`
  records (`$DEPLOYER_LOCAL_REQUEST_LOG_LIMIT`, default 100,000) the oldest segment is dropped,
  from disk and from moto, and counted (`why_missing` says so);
- `deploys.jsonl`: deploy records (`deploy#<env>#<version>`), never dropped: deploy history does
  not expire, here as in the table;
- `quarantine.jsonl`: records that could not be items, with why (the newest ~1 MB and one older file).

A journal write that fails (a full disk) keeps the items in memory (up to `limit`) and is retried
with every batch; moto has them meanwhile. Records carry the handler's real time (`ts`), not the
emulated clock, and moto never deletes by TTL: the bound is what ends a record's life here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handlers.recorder import Item, prepare_item, quarantine_line, renamed
from handlers.records import MAX_ITEM_BYTES, REUSED_ID_MARK, TABLE_PARTITION_KEY

DIRECTORY = "request-log"
DEPLOYS_FILE = "deploys.jsonl"
QUARANTINE_FILE = "quarantine.jsonl"
LIMIT_ENV = "DEPLOYER_LOCAL_REQUEST_LOG_LIMIT"
DEFAULT_LIMIT = 100_000
QUARANTINE_BYTES = 1_000_000
#: Quarantined ids remembered for `why_missing`.
KEEP_QUARANTINED = 1000


def request_log_limit(value: int | None = None) -> int:
    """The bound: the argument, else $DEPLOYER_LOCAL_REQUEST_LOG_LIMIT, else 100,000 records."""
    if value is None:
        value = int(os.environ.get(LIMIT_ENV) or DEFAULT_LIMIT)
    return max(10, value)


def _fingerprint(item: Item) -> tuple[int, int]:
    """(ts, a hash of version and action): what tells two requests sharing an id apart (see `same_request`)."""
    version, action = item.get("version", {}).get("S"), item.get("action", {}).get("S")
    return int(item.get("ts", {}).get("N") or 0), hash((version, action))  # as handlers.recorder.same_request


@dataclass
class _Segment:
    path: Path
    keys: list[str] = field(default_factory=list)


class RequestLog:
    """The request log of one emulator (run by the sink process): journal, id index, moto batches."""

    def __init__(self, directory: Path, *, ttl_days: int, limit: int | None = None) -> None:
        self.directory = directory
        self.ttl_days = ttl_days
        self.limit = request_log_limit(limit)
        self.segment_records = max(1, self.limit // 10)
        self._index: dict[str, tuple[int, int]] = {}  # key -> fingerprint (ts, version, action)
        self._segments: list[_Segment] = []
        self._deploy_keys: set[str] = set()
        self._unjournaled: list[tuple[bool, Item]] = []  # (is a deploy record, item), in order
        self._to_put: list[Item] = []
        self._to_delete: list[str] = []
        self._quarantined_ids: dict[str, str] = {}
        #: written: records taken into the log (moto has them, or gets them with the next batch);
        #: journaled: of those, on disk; renamed: written under `<id>~n`; dropped: past the bound
        self.counts = {"written": 0, "journaled": 0, "renamed": 0, "sanitised": 0, "quarantined": 0, "dropped": 0,
                       "unreadable": 0, "journal_lost": 0}
        self.oldest_dropped_ts: int | None = None
        self.journal_error: str | None = None

    # -- start ----------------------------------------------------------------------------------
    def load(self, chunk: int = 1000) -> Iterator[list[Item]]:
        """Read the journal (deploy records, then segments oldest first); yields items for moto in chunks."""
        self.directory.mkdir(parents=True, exist_ok=True)
        batch: list[Item] = []
        for item in self._read(self.directory / DEPLOYS_FILE):
            self._deploy_keys.add(item[TABLE_PARTITION_KEY]["S"])
            batch.append(item)
        for path in sorted(self.directory.glob("requests-*.jsonl")):
            segment = _Segment(path)
            for item in self._read(path):
                key = item[TABLE_PARTITION_KEY]["S"]
                self._index[key] = _fingerprint(item)
                segment.keys.append(key)
                batch.append(item)
                if len(batch) >= chunk:
                    yield batch
                    batch = []
            self._segments.append(segment)
        if batch:
            yield batch
        self._evict()

    def _read(self, path: Path) -> Iterator[Item]:
        try:
            handle = path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                try:
                    item = json.loads(line)
                    if isinstance(item, dict) and "S" in item.get(TABLE_PARTITION_KEY, {}):
                        yield item
                        continue
                except ValueError:
                    pass
                if line.strip():  # a torn last line of a killed emulator, or a damaged file
                    self.counts["unreadable"] += 1

    # -- recording ------------------------------------------------------------------------------
    def add_record(self, record: dict[str, Any]) -> None:
        """One request record (a parsed `event="request"` line)."""
        prepared = prepare_item(record, self.ttl_days)
        if prepared.item is None:
            self._quarantine(record, prepared.problem or "unknown")
            return
        self.counts["sanitised"] += bool(prepared.fixes)
        item = prepared.item
        base = item[TABLE_PARTITION_KEY]["S"]
        fingerprint = _fingerprint(item)
        for n in range(1, 101):
            key = base if n == 1 else f"{base}{REUSED_ID_MARK}{n}"
            held = self._index.get(key)
            if key in self._deploy_keys or (held is not None and held != fingerprint):
                continue  # another request (or a deploy record) holds it
            if held is None:
                self._index[key] = fingerprint
                self._unjournaled.append((False, renamed(item, n)))
                self.counts["written"] += 1
                self.counts["renamed"] += n > 1
            self._to_put.append(renamed(item, n))
            return
        self._quarantine(record, f"100 requests already share the id {base}")

    def add_item(self, item: Item, *, unless_kept: bool = False) -> None:
        """A ready item (deploy records): kept in `deploys.jsonl`, never dropped. With `unless_kept`,
        only when no item has its key yet (a restart's backfill never replaces the record written)."""
        key = item[TABLE_PARTITION_KEY]["S"]
        if unless_kept and key in self._deploy_keys:
            return
        self._deploy_keys.add(key)
        self._unjournaled.append((True, item))
        self._to_put.append(item)

    def _quarantine(self, record: Any, reason: str) -> None:
        entry = quarantine_line(record, reason)
        self.counts["quarantined"] += 1
        self._quarantined_ids[entry["request_id"]] = reason
        while len(self._quarantined_ids) > KEEP_QUARANTINED:
            del self._quarantined_ids[next(iter(self._quarantined_ids))]
        path = self.directory / QUARANTINE_FILE
        try:
            if path.exists() and path.stat().st_size > QUARANTINE_BYTES:
                path.replace(path.with_suffix(".1.jsonl"))
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError as exc:
            self.journal_error = f"writing {path}: {exc}"

    # -- moto -----------------------------------------------------------------------------------
    def take(self) -> tuple[list[Item], list[dict[str, dict[str, str]]]]:
        """What moto must get now: items to put, keys to delete (`requeue` them when that failed)."""
        puts, self._to_put = self._to_put, []
        deletes, self._to_delete = self._to_delete, []
        return puts, [{TABLE_PARTITION_KEY: {"S": k}} for k in deletes]

    def requeue(self, puts: list[Item], deletes: list[dict[str, dict[str, str]]]) -> None:
        self._to_put[:0] = puts
        self._to_delete[:0] = [d[TABLE_PARTITION_KEY]["S"] for d in deletes]
        excess = len(self._to_put) - self.limit
        if excess > 0:  # moto has been unreachable for a long time: the journal still has them
            del self._to_put[:excess]

    # -- journal --------------------------------------------------------------------------------
    def persist(self) -> bool:
        """Append what is not on disk yet; False (kept for the next try) when the disk refused."""
        pending, self._unjournaled = self._unjournaled, []
        if not pending:
            return True
        deploys = [item for is_deploy, item in pending if is_deploy]
        requests = [item for is_deploy, item in pending if not is_deploy]
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            if deploys:
                self._append(self.directory / DEPLOYS_FILE, deploys)
                deploys = []
            while requests:
                segment = self._current_segment()
                room = self.segment_records - len(segment.keys)
                part, rest = requests[:room], requests[room:]
                self._append(segment.path, part)
                segment.keys += [item[TABLE_PARTITION_KEY]["S"] for item in part]
                self.counts["journaled"] += len(part)
                requests = rest
        except OSError as exc:
            self.journal_error = f"writing {self.directory}: {type(exc).__name__}: {exc}"
            self._unjournaled = [(True, i) for i in deploys] + [(False, i) for i in requests] + self._unjournaled
            lost = sum(1 for is_deploy, _ in self._unjournaled if not is_deploy) - self.limit
            if lost > 0:  # never more than the bound in memory: the oldest unjournaled records go
                kept, dropped = [], 0
                for entry in self._unjournaled:
                    if not entry[0] and dropped < lost:
                        dropped += 1
                        continue
                    kept.append(entry)
                self._unjournaled = kept
                self.counts["journal_lost"] += dropped
            return False
        self.journal_error = None
        self._evict()
        return True

    def _append(self, path: Path, items: list[Item]) -> None:
        text = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
        with path.open("a+b") as handle:
            if handle.tell():  # after a torn last line (a killed emulator) the next item starts its own
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    text = "\n" + text
            handle.write(text.encode("utf-8", "surrogatepass"))

    def _current_segment(self) -> _Segment:
        if not self._segments or len(self._segments[-1].keys) >= self.segment_records:
            number = int(self._segments[-1].path.stem.rsplit("-", 1)[1]) + 1 if self._segments else 1
            self._segments.append(_Segment(self.directory / f"requests-{number:06d}.jsonl"))
        return self._segments[-1]

    def _evict(self) -> None:
        """Drop the oldest segments while more than `limit` records are kept (from disk, index and moto)."""
        while len(self._segments) > 1 and sum(len(s.keys) for s in self._segments) > self.limit:
            segment = self._segments.pop(0)
            newest = self.oldest_dropped_ts or 0
            for key in segment.keys:
                fingerprint = self._index.pop(key, None)
                if fingerprint is not None:
                    newest = max(newest, fingerprint[0])
                self._to_delete.append(key)
            self.oldest_dropped_ts = newest or None
            self.counts["dropped"] += len(segment.keys)
            try:
                segment.path.unlink(missing_ok=True)
            except OSError as exc:
                self.journal_error = f"removing {segment.path}: {exc}"

    # -- questions ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        return {**self.counts, "kept": len(self._index), "limit": self.limit, "deploy_records": len(self._deploy_keys),
                "unjournaled": len(self._unjournaled), "oldest_dropped_ts": self.oldest_dropped_ts,
                "journal_error": self.journal_error, "max_item_bytes": MAX_ITEM_BYTES}

    def why_missing(self, request_id: str) -> str | None:
        """Why the log has no record under `request_id` (None when it has one)."""
        if request_id in self._index or request_id in self._deploy_keys:
            return None
        reason = self._quarantined_ids.get(request_id)
        if reason is not None:
            return f"request {request_id} was quarantined, not recorded: {reason} (see {self.directory / QUARANTINE_FILE})"
        if self.counts["dropped"]:
            return (f"the emulator keeps the newest {self.limit:,} request records ({LIMIT_ENV}); "
                    f"{self.counts['dropped']:,} older ones were dropped, request {request_id} may be one of them")
        return (f"the emulator never recorded a request {request_id}: it has {len(self._index):,} records, all it "
                "was sent since its state directory was created")
