"""The structured request lines: CloudWatch Logs in AWS, the emulator's log locally.

Filters are the same in both places: `key=value` terms (`outcome=error`, `version=3`,
`action=route`) match fields of the request line, any other term is a substring. In AWS they
become a CloudWatch Logs filter pattern (`{ $.outcome = "error" && $.version = "3" }`), so that
the filtering happens server side; locally they are applied to the emulator's lines.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from deployer.errors import DeployerError
from deployer.ops.target import OpsTarget
from handlers.records import REQUEST_EVENT

_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(=|!=)(.*)$")


@dataclass(frozen=True)
class LogLine:
    ts_ms: int
    message: str
    record: dict[str, Any] | None  # the parsed request line, when it is one

    def to_dict(self) -> dict[str, Any]:
        return {"ts": self.ts_ms, "message": self.message, "record": self.record}


@dataclass(frozen=True)
class LogFilter:
    fields: tuple[tuple[str, str, str], ...]  # (key, op, value)
    words: tuple[str, ...]
    requests_only: bool = True

    @classmethod
    def parse(cls, terms: tuple[str, ...] | list[str], *, requests_only: bool = True) -> LogFilter:
        fields, words = [], []
        for term in terms:
            for part in term.split():
                match = _FIELD.match(part)
                if match:
                    fields.append((match.group(1), match.group(2), match.group(3).strip("\"'")))
                else:
                    words.append(part)
        return cls(tuple(fields), tuple(words), requests_only)

    def cloudwatch_pattern(self) -> str | None:
        """The CloudWatch Logs filter pattern (JSON pattern when there are field terms)."""
        clauses = [f"$.event = \"{REQUEST_EVENT}\""] if self.requests_only else []
        clauses += [f"$.{key} {op} {_pattern_value(key, value)}" for key, op, value in self.fields]
        if self.words and self.fields:
            raise DeployerError("CloudWatch Logs cannot mix field terms (key=value) and free text in one filter",
                                hint="filter on fields only, e.g. --filter outcome=error --filter action=route")
        if self.words:  # a text pattern; request lines are then picked out client side
            return " ".join(json.dumps(word) for word in self.words)
        if not clauses:
            return None
        return "{ " + " && ".join(clauses) + " }"

    def matches(self, line: LogLine) -> bool:
        if self.requests_only and line.record is None:
            return False
        for key, op, value in self.fields:
            actual = None if line.record is None else line.record.get(key)
            equal = actual is not None and _same(actual, value)
            if equal != (op == "="):
                return False
        return all(word in line.message for word in self.words)


#: Fields of the request line that are JSON numbers (everything else is a string, `version` included).
NUMERIC_FIELDS = frozenset({"ts", "status", "latency_ms", "input_tokens", "output_tokens", "cost_usd", "confidence",
                            "memory_mb"})


def _pattern_value(key: str, value: str) -> str:
    if key in NUMERIC_FIELDS and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return value
    if value in ("true", "false", "null"):
        return value
    return json.dumps(value)


def _same(actual: Any, wanted: str) -> bool:
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    if isinstance(actual, (int, float)):
        try:
            return float(actual) == float(wanted)
        except ValueError:
            return False
    return str(actual) == wanted


def parse_message(message: str, fallback_ts_ms: int = 0) -> LogLine:
    start = message.find("{")
    record: dict[str, Any] | None = None
    if start >= 0:
        try:
            value = json.loads(message[start:])
        except ValueError:
            value = None
        if isinstance(value, dict) and value.get("event") == REQUEST_EVENT:
            record = value
    ts = int(record.get("ts") or fallback_ts_ms) if record else fallback_ts_ms
    return LogLine(ts, message.rstrip("\n"), record)


def read_logs(target: OpsTarget, log_filter: LogFilter, *, since_s: float = 3600.0, limit: int = 100,
              now_ms: int | None = None) -> list[LogLine]:
    """The last `limit` matching lines, oldest first."""
    if limit <= 0:
        return []
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    start = now - int(since_s * 1000)
    if target.local:
        lines = [line for line in _local_lines(target, 20_000) if line.ts_ms == 0 or line.ts_ms >= start]
        return [line for line in lines if log_filter.matches(line)][-limit:]
    events = target.logs().filter(log_filter.cloudwatch_pattern(), start_ms=start, limit=limit)
    lines = [parse_message(str(e.get("message", "")), int(e.get("timestamp") or 0)) for e in events]
    return [line for line in lines if log_filter.matches(line)][-limit:]


def _local_lines(target: OpsTarget, limit: int) -> list[LogLine]:
    raw = target.require_emulator().get(f"/logs?limit={limit}")
    return [parse_message(str(message)) for message in raw or []]


def follow_logs(target: OpsTarget, log_filter: LogFilter, *, poll_s: float = 2.0, max_s: float | None = None,
                since_s: float = 60.0, sleep: Callable[[float], None] = time.sleep) -> Iterator[LogLine]:
    """New matching lines as they arrive: polls every `poll_s` for `max_s` seconds (forever if None)."""
    seen: dict[str, None] = {}
    polls_left = None if max_s is None else int(max_s // poll_s)
    window_ms = int(since_s * 1000)
    while True:
        now = int(time.time() * 1000)
        if target.local:
            batch = [line for line in _local_lines(target, 2000) if log_filter.matches(line)]
        else:
            events = target.logs().filter(log_filter.cloudwatch_pattern(), start_ms=now - window_ms, limit=1000)
            batch = [parse_message(str(e.get("message", "")), int(e.get("timestamp") or 0)) for e in events]
            batch = [line for line in batch if log_filter.matches(line)]
        for line in batch:
            key = (line.record or {}).get("request_id") or f"{line.ts_ms}:{line.message}"
            if key in seen:
                continue
            seen[key] = None
            yield line
        while len(seen) > 50_000:
            seen.pop(next(iter(seen)))
        window_ms = int(max(poll_s * 3, 10) * 1000)
        if polls_left is not None:
            if polls_left <= 0:
                return
            polls_left -= 1
        sleep(poll_s)
