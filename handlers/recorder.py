"""The request-log writer: a CloudWatch Logs subscription handler -> DynamoDB.

The runtime writes each request's record in its log line (no network on the request path).
A subscription filter (`RECORD_FILTER_PATTERN`) on the function's log group delivers those lines
here (`handlers.recorder.handler`, gzip + base64 in `awslogs.data`); each becomes one item of the
request-log table through `record_to_item`, which the local emulator calls too.

Items are in DynamoDB's low-level (client) format. Attributes: `request_id` (S, partition key),
`ts` (N, epoch ms), `outcome` (S, "ok" | "error"), `expires_at` (N, TTL epoch seconds), the
numbers of the record (N), its strings (S), `replay` (BOOL), and `input` / `output` as JSON
text (S) so that any JSON value survives DynamoDB's type rules. `item_to_record` reverses it.

Environment of the recorder function: `DEPLOYER_REQUEST_TABLE`, `DEPLOYER_RECORD_TTL_DAYS`.
A failed batch raises, so that Lambda retries the delivery: no record is dropped silently.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from handlers.records import (
    JSON_ATTRIBUTES,
    OUTCOME_INDEX_PARTITION,
    OUTCOME_INDEX_SORT,
    RECORD_FILTER_PATTERN,
    REQUEST_EVENT,
    TABLE_PARTITION_KEY,
    TTL_ATTRIBUTE,
)

__all__ = ["RECORD_FILTER_PATTERN", "handler", "item_to_record", "record_to_item"]
TABLE_ENV = "DEPLOYER_REQUEST_TABLE"
TTL_ENV = "DEPLOYER_RECORD_TTL_DAYS"
JSON_FIELDS = JSON_ATTRIBUTES
SKIP_FIELDS = frozenset({"event", "level"})
BATCH_SIZE = 25


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


def record_to_item(line: dict[str, Any], ttl_days: int) -> dict[str, dict[str, Any]]:
    """One request-record log line (parsed) -> one DynamoDB item (low-level format)."""
    ts = int(line.get(OUTCOME_INDEX_SORT) or time.time() * 1000)
    item: dict[str, dict[str, Any]] = {
        TABLE_PARTITION_KEY: {"S": str(line[TABLE_PARTITION_KEY])},
        OUTCOME_INDEX_SORT: {"N": str(ts)},
        OUTCOME_INDEX_PARTITION: {"S": str(line.get("outcome") or "error")},
        TTL_ATTRIBUTE: {"N": str(ts // 1000 + int(ttl_days) * 86400)},
    }
    for key, value in line.items():
        if key in item or key in SKIP_FIELDS or value is None:
            continue
        if key in JSON_FIELDS:
            item[key] = {"S": json.dumps(value, ensure_ascii=False)}
        elif isinstance(value, bool):
            item[key] = {"BOOL": value}
        elif isinstance(value, (int, float)):
            item[key] = {"N": repr(value) if isinstance(value, float) else str(value)}
        elif isinstance(value, str):
            if value:
                item[key] = {"S": value}
        else:
            item[key] = {"S": json.dumps(value, ensure_ascii=False)}
    return item


def item_to_record(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
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


def items_from_messages(messages: Iterable[str], ttl_days: int) -> list[dict[str, dict[str, Any]]]:
    items: dict[str, dict[str, dict[str, Any]]] = {}
    for message in messages:
        line = parse_line(message)
        if line is not None:
            items[str(line[TABLE_PARTITION_KEY])] = record_to_item(line, ttl_days)  # a batch may not repeat a key
    return list(items.values())


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def write_items(client: Any, table: str, items: list[dict[str, dict[str, Any]]], *, attempts: int = 6) -> int:
    """Batch-write `items`, retrying unprocessed ones with backoff; raise if some never land."""
    written = 0
    for chunk in _chunks(items, BATCH_SIZE):
        requests = [{"PutRequest": {"Item": item}} for item in chunk]
        for attempt in range(attempts):
            response = client.batch_write_item(RequestItems={table: requests})
            requests = (response.get("UnprocessedItems") or {}).get(table) or []
            if not requests:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt))
        if requests:
            raise RuntimeError(f"{len(requests)} request records were not written to {table} after {attempts} attempts")
        written += len(chunk)
    return written


_client: Any = None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    """CloudWatch Logs subscription -> request-log table."""
    global _client
    table = os.environ[TABLE_ENV]
    ttl_days = int(os.environ.get(TTL_ENV) or 7)
    items = items_from_messages(decode_subscription(event), ttl_days)
    if not items:
        return {"written": 0}
    if _client is None:
        import boto3

        _client = boto3.client("dynamodb")
    return {"written": write_items(_client, table, items)}
