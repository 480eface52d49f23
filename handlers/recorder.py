"""The request-log writer: a CloudWatch Logs subscription handler -> DynamoDB.

The runtime writes each request's record in its log line (no network on the request path).
A subscription filter (`RECORD_FILTER_PATTERN`) on the function's log group delivers those lines
here (`handlers.recorder.handler`, gzip + base64 in `awslogs.data`); each becomes one item of the
request-log table through `prepare_item`, which the local emulator calls too.

Items are in DynamoDB's low-level (client) format. Attributes: `request_id` (S, partition key),
`ts` (N, epoch ms), `outcome` (S, "ok" | "error"), `expires_at` (N, TTL epoch seconds), the
numbers of the record (N), its strings (S), `replay` (BOOL), and `input` / `output` as JSON
text (S) so that any JSON value survives DynamoDB's type rules. `item_to_record` reverses it.

One bad record never costs another its place (the same rules here and in the emulator):

- sanitised: a lone surrogate becomes U+FFFD, a number DynamoDB cannot hold (NaN, infinity,
  out of range) is left out, an invalid request id is replaced by a stable one derived from it,
  an item over 400 KB gets its input/output truncated (as the runtime truncates a long value);
- quarantined: a record that still cannot be an item is logged whole (truncated) as a
  `request_record_quarantined` line of this function's own log, and counted;
- a request id already taken by another request is written as `<id>~2`, `<id>~3`... (a
  conditional put: the same record delivered twice overwrites itself, never another request).

Environment of the recorder function: `DEPLOYER_REQUEST_TABLE`, `DEPLOYER_RECORD_TTL_DAYS`.
Writes that fail for any other reason raise, so that Lambda retries the delivery: no record is
dropped silently (a retried delivery rewrites the same items in place).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Iterable
from typing import Any, NamedTuple

from handlers.events import valid_request_id
from handlers.records import (
    JSON_ATTRIBUTES,
    MAX_ITEM_BYTES,
    OUTCOME_INDEX_PARTITION,
    OUTCOME_INDEX_SORT,
    RECORD_FILTER_PATTERN,
    REQUEST_EVENT,
    REUSED_ID_ATTRIBUTE,
    REUSED_ID_MARK,
    TABLE_PARTITION_KEY,
    TTL_ATTRIBUTE,
)

__all__ = ["RECORD_FILTER_PATTERN", "handler", "item_to_record", "prepare_item", "read_messages", "record_to_item",
           "write_items"]
TABLE_ENV = "DEPLOYER_REQUEST_TABLE"
TTL_ENV = "DEPLOYER_RECORD_TTL_DAYS"
JSON_FIELDS = JSON_ATTRIBUTES
SKIP_FIELDS = frozenset({"event", "level"})
#: Attributes that tell two requests apart when they share an id (a redelivered record matches all).
FINGERPRINT = (OUTCOME_INDEX_SORT, "version", "action")
#: How many requests may share one id before the next one is quarantined.
MAX_REUSES = 100
#: Characters of a long string kept when an item must shrink under DynamoDB's limit.
PREVIEW_CHARS = 1000
QUARANTINED_EVENT = "request_record_quarantined"
Item = dict[str, dict[str, Any]]


class Prepared(NamedTuple):
    """A record made ready for the table: the item, what sanitising changed, or why it cannot be one."""

    item: Item | None
    fixes: tuple[str, ...]
    problem: str | None = None


def parse_line(message: str) -> dict[str, Any] | None:
    """The record in one log message, or None when the message is not a request record."""
    start = message.find("{")
    if start < 0:
        return None
    try:
        data = json.loads(message[start:])
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("event") != REQUEST_EVENT or not data.get(TABLE_PARTITION_KEY):
        return None
    return data


def clean_text(text: str, fixes: list[str] | None = None) -> str:
    """`text` with every lone surrogate (which no UTF-8 store accepts) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        if fixes is not None and "lone surrogates replaced" not in fixes:
            fixes.append("lone surrogates replaced")
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def _number(value: int | float) -> str | None:
    """DynamoDB's N text of a number, or None when DynamoDB cannot hold it (38 digits, 1E-130..1E+126)."""
    if isinstance(value, float):
        if not math.isfinite(value) or (value != 0 and not 1e-130 <= abs(value) < 1e126):
            return None
        return repr(value)
    text = str(value)
    return text if len(text.lstrip("-")) <= 38 else None


def stable_request_id(raw: Any) -> str:
    """A valid request id standing in for an invalid one: the same for the same input (redeliveries)."""
    digest = hashlib.sha256(str(raw).encode("utf-8", "surrogatepass")).hexdigest()
    return f"invalid-{digest[:32]}"


def record_to_item(line: dict[str, Any], ttl_days: int, fixes: list[str] | None = None) -> Item:
    """One request-record log line (parsed) -> one DynamoDB item (low-level format), sanitised.

    What sanitising changed is appended to `fixes`; the size limit is `prepare_item`'s.
    """
    fixes = [] if fixes is None else fixes
    raw_id = line[TABLE_PARTITION_KEY]
    request_id = valid_request_id(raw_id)
    if request_id is None:
        request_id = stable_request_id(raw_id)
        fixes.append("request id replaced (not 1-128 characters of letters, digits and . _ : @ = + / -)")
    ts = int(line.get(OUTCOME_INDEX_SORT) or time.time() * 1000)
    item: Item = {
        TABLE_PARTITION_KEY: {"S": request_id},
        OUTCOME_INDEX_SORT: {"N": str(ts)},
        OUTCOME_INDEX_PARTITION: {"S": clean_text(str(line.get("outcome") or "error"), fixes)},
        TTL_ATTRIBUTE: {"N": str(ts // 1000 + int(ttl_days) * 86400)},
    }
    for key, value in line.items():
        if key in item or key in SKIP_FIELDS or value is None or not key:
            continue
        key = clean_text(str(key), fixes)
        if key in JSON_FIELDS:
            item[key] = {"S": clean_text(json.dumps(value, ensure_ascii=False, default=str), fixes)}
        elif isinstance(value, bool):
            item[key] = {"BOOL": value}
        elif isinstance(value, (int, float)):
            number = _number(value)
            if number is None:
                fixes.append(f"{key}: {value!r} left out (not a number DynamoDB can hold)")
            else:
                item[key] = {"N": number}
        elif isinstance(value, str):
            if value:
                item[key] = {"S": clean_text(value, fixes)}
        else:
            item[key] = {"S": clean_text(json.dumps(value, ensure_ascii=False, default=str), fixes)}
    return item


def item_bytes(item: Item) -> int:
    """An item's size as DynamoDB counts it (attribute names plus values), near enough to stay under the limit."""
    size = 0
    for name, typed in item.items():
        kind, value = next(iter(typed.items()))
        size += len(name.encode()) + (1 if kind == "BOOL" else len(str(value).encode("utf-8", "replace")))
    return size


def _shrink(item: Item, fixes: list[str]) -> None:
    """Truncate the long strings of an oversized item, longest first, to a preview (as the runtime does)."""
    strings = sorted((k for k, v in item.items() if "S" in v and k not in (TABLE_PARTITION_KEY, OUTCOME_INDEX_PARTITION)),
                     key=lambda k: len(item[k]["S"]), reverse=True)
    for key in strings:
        if item_bytes(item) <= MAX_ITEM_BYTES:
            return
        text = item[key]["S"]
        preview = {"truncated": True, "chars": len(text), "preview": text[:PREVIEW_CHARS]}
        item[key] = {"S": json.dumps(preview, ensure_ascii=False) if key in JSON_FIELDS else text[:PREVIEW_CHARS]}
        fixes.append(f"{key} truncated ({len(text)} characters; the item was over DynamoDB's 400 KB)")


def prepare_item(line: dict[str, Any], ttl_days: int) -> Prepared:
    """A request record -> the item to write: sanitised, shrunk under 400 KB, or quarantined (item None)."""
    fixes: list[str] = []
    try:
        item = record_to_item(line, ttl_days, fixes)
    except Exception as exc:  # a record the runtime would never write: keep it out, say why
        return Prepared(None, tuple(fixes), f"not a request record: {type(exc).__name__}: {exc}")
    if item_bytes(item) > MAX_ITEM_BYTES:
        _shrink(item, fixes)
        if item_bytes(item) > MAX_ITEM_BYTES:
            return Prepared(None, tuple(fixes), f"{item_bytes(item)} bytes, over DynamoDB's 400 KB even truncated")
    return Prepared(item, tuple(fixes))


def same_request(a: Item, b: Item) -> bool:
    """Whether two items record the same request (a redelivery) rather than two sharing an id."""
    return all(a.get(name) == b.get(name) for name in FINGERPRINT)


def reused_id(request_id: str, n: int) -> str:
    """The key of the n-th request (n >= 2) recorded under `request_id`."""
    return f"{request_id}{REUSED_ID_MARK}{n}"


def renamed(item: Item, n: int) -> Item:
    """`item` as the n-th request under its id (n = 1: itself)."""
    if n == 1:
        return item
    original = item[TABLE_PARTITION_KEY]["S"]
    return {**item, TABLE_PARTITION_KEY: {"S": reused_id(original, n)}, REUSED_ID_ATTRIBUTE: {"S": original}}


def quarantine_line(line: Any, reason: str) -> dict[str, Any]:
    """What is kept of a quarantined record: the reason and the record as JSON text (truncated)."""
    text = clean_text(json.dumps(line, ensure_ascii=False, default=str))
    request_id = line.get(TABLE_PARTITION_KEY) if isinstance(line, dict) else None
    return {"event": QUARANTINED_EVENT, "reason": reason, "request_id": clean_text(str(request_id))[:200],
            "record": text[:4000], "record_chars": len(text)}


def item_to_record(item: Item) -> dict[str, Any]:
    """A request-log item back to the record it was written from (for `errors`, `replay`)."""
    record: dict[str, Any] = {}
    for key, typed in item.items():
        kind, value = next(iter(typed.items()))
        if kind == "N":
            number = float(value)
            record[key] = int(number) if number.is_integer() and "." not in value and "e" not in value else number
        elif kind == "BOOL":
            record[key] = bool(value)
        elif kind == "S" and key in JSON_FIELDS:
            record[key] = json.loads(value)
        else:
            record[key] = value
    return record


def decode_subscription(event: dict[str, Any]) -> list[str]:
    """The log messages of a CloudWatch Logs subscription event (empty for control messages)."""
    payload = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    if payload.get("messageType") != "DATA_MESSAGE":
        return []
    return [str(entry.get("message", "")) for entry in payload.get("logEvents") or ()]


class Batch(NamedTuple):
    items: list[Item]
    quarantined: list[dict[str, Any]]
    sanitised: int


def read_messages(messages: Iterable[str], ttl_days: int) -> Batch:
    """The items of a delivery, in order (a record delivered twice in it is kept once), and the quarantined."""
    items: list[Item] = []
    seen: dict[str, list[Item]] = {}
    quarantined: list[dict[str, Any]] = []
    sanitised = 0
    for message in messages:
        line = parse_line(message)
        if line is None:
            continue
        prepared = prepare_item(line, ttl_days)
        if prepared.item is None:
            quarantined.append(quarantine_line(line, prepared.problem or "unknown"))
            continue
        sanitised += bool(prepared.fixes)
        twins = seen.setdefault(prepared.item[TABLE_PARTITION_KEY]["S"], [])
        if not any(same_request(t, prepared.item) for t in twins):
            twins.append(prepared.item)
            items.append(prepared.item)
    return Batch(items, quarantined, sanitised)


def items_from_messages(messages: Iterable[str], ttl_days: int) -> list[Item]:
    """The items of a delivery (`read_messages` without the quarantined)."""
    return read_messages(messages, ttl_days).items


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    return str(((response or {}).get("Error") or {}).get("Code") or "") if isinstance(response, dict) else ""


def put_unique(client: Any, table: str, item: Item) -> int:
    """Write `item` under its id, or `<id>~n` when other requests hold the id; returns n (1: its own id).

    The conditional put lets a record overwrite only itself (a redelivery), never another request's.
    """
    names = {"#k": TABLE_PARTITION_KEY}
    values: dict[str, Any] = {}
    same = []
    for i, name in enumerate(FINGERPRINT):
        names[f"#f{i}"] = name
        if name in item:
            values[f":f{i}"] = item[name]
            same.append(f"#f{i} = :f{i}")
        else:
            same.append(f"attribute_not_exists(#f{i})")
    condition = f"attribute_not_exists(#k) OR ({' AND '.join(same)})"
    for n in range(1, MAX_REUSES + 1):
        try:
            client.put_item(TableName=table, Item=renamed(item, n), ConditionExpression=condition,
                            ExpressionAttributeNames=names, **({"ExpressionAttributeValues": values} if values else {}))
            return n
        except Exception as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise
    raise ValueError(f"{MAX_REUSES} requests already share the id {item[TABLE_PARTITION_KEY]['S']}")


class Written(NamedTuple):
    written: int
    renamed: int
    quarantined: list[dict[str, Any]]


def write_items(client: Any, table: str, items: list[Item], *, threads: int = 8) -> Written:
    """Write every item with `put_unique` (a few at a time); an item DynamoDB rejects as invalid is
    quarantined alone; any other failure raises once the rest are written (Lambda retries)."""
    from concurrent.futures import ThreadPoolExecutor

    written = renames = 0
    quarantined: list[dict[str, Any]] = []
    failures: list[str] = []

    def one(item: Item) -> int:
        return put_unique(client, table, item)

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(items)))) as pool:
        futures = [(item, pool.submit(one, item)) for item in items]
        for item, future in futures:
            try:
                n = future.result()
            except Exception as exc:
                if _error_code(exc) == "ValidationException" or isinstance(exc, ValueError):
                    quarantined.append(quarantine_line(item_to_record(item), f"{type(exc).__name__}: {exc}"))
                else:
                    failures.append(f"{item[TABLE_PARTITION_KEY]['S']}: {type(exc).__name__}: {exc}")
                continue
            written += 1
            renames += n > 1
    if failures:
        raise RuntimeError(f"{len(failures)} request records were not written to {table} (the delivery will be "
                           f"retried; {written} were): {failures[0]}")
    return Written(written, renames, quarantined)


_client: Any = None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    """CloudWatch Logs subscription -> request-log table."""
    global _client
    table = os.environ[TABLE_ENV]
    ttl_days = int(os.environ.get(TTL_ENV) or 7)
    batch = read_messages(decode_subscription(event), ttl_days)
    result = Written(0, 0, [])
    if batch.items:
        if _client is None:
            import boto3

            _client = boto3.client("dynamodb")
        result = write_items(_client, table, batch.items)
    quarantined = [*batch.quarantined, *result.quarantined]
    for entry in quarantined:  # this function's own log keeps them: nothing vanishes without a word
        sys.stdout.write(json.dumps(entry) + "\n")
    return {"written": result.written, "renamed": result.renamed, "sanitised": batch.sanitised,
            "quarantined": len(quarantined)}
