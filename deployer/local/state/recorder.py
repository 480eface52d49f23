"""The request log in moto DynamoDB, fed from the handler's request log lines.

In AWS a log subscription (`handlers.recorder`) turns each structured `event="request"` line into
an item of the request-log table. The emulator does the same with the lines its workers capture:
`handlers.recorder.record_to_item` when the runtime provides it (one definition of the item, the
same in AWS and here), a faithful fallback otherwise. Items are written with `BatchWriteItem` by the
telemetry sink process (`deployer.local.state.sink`), so the request path never waits on moto.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from handlers.records import REQUEST_EVENT, TTL_ATTRIBUTE

log = logging.getLogger(__name__)

ToItem = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def _fallback_to_item(record: dict[str, Any], ttl_days: int) -> dict[str, Any] | None:
    if not record.get("request_id"):
        return None
    item = {k: v for k, v in record.items() if k != "event" and v is not None}
    item.setdefault("outcome", "error" if int(record.get("status") or 200) >= 500 else "ok")
    ts = int(record.get("ts") or time.time() * 1000)
    item["ts"] = ts
    item[TTL_ATTRIBUTE] = ts // 1000 + ttl_days * 86400
    return item


def resolve_to_item(ttl_days: int) -> ToItem:
    try:
        from handlers.recorder import record_to_item  # the runtime's definition, when present
    except ImportError:
        return lambda record: _fallback_to_item(record, ttl_days)
    return lambda record: dict(record_to_item(record, ttl_days))


def _dynamo_value(value: Any) -> Any:
    """Plain JSON values -> what boto3's serializer accepts (floats become Decimal)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): _dynamo_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dynamo_value(v) for v in value]
    return value


class RequestRecorder:
    """Request records, written to the table in batches of 25: `add_line` them, then `flush`.

    The telemetry sink process drives it (`deployer.local.state.sink.main`): it adds the lines of
    each batch the gateway sends, then flushes once.
    """

    def __init__(self, dynamodb: Any, table: str, ttl_days: int) -> None:
        from boto3.dynamodb.types import TypeSerializer

        self._client = dynamodb
        self._table = table
        self._to_item = resolve_to_item(ttl_days)
        self._serializer = TypeSerializer()
        self._pending: list[dict[str, Any]] = []
        self.written = 0
        self.errors = 0

    def add_line(self, record: dict[str, Any]) -> None:
        """Take one parsed log line; keep it if it is a request record."""
        if record.get("event") != REQUEST_EVENT:
            return
        self._pending.append(record)

    def write_item(self, item: dict[str, Any]) -> None:
        """Write one item now (deploy records)."""
        self._client.put_item(TableName=self._table, Item=self._serialize(item))

    def _serialize(self, item: dict[str, Any]) -> dict[str, Any]:
        if item and all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _TYPE_TAGS for v in item.values()):
            return item  # already in DynamoDB's typed shape
        plain = _dynamo_value(item)
        return {k: self._serializer.serialize(v) for k, v in plain.items() if v is not None}

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        items = []
        for record in pending:
            try:
                item = self._to_item(record)
            except Exception:
                self.errors += 1
                log.warning("request record could not be converted", exc_info=True)
                continue
            if item:
                items.append(self._serialize(item))
        for i in range(0, len(items), 25):
            batch = [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]
            try:
                response = self._client.batch_write_item(RequestItems={self._table: batch})
                unprocessed = response.get("UnprocessedItems", {}).get(self._table, [])
                self.written += len(batch) - len(unprocessed)
            except Exception:
                self.errors += len(batch)
                log.warning("batch_write_item into moto failed", exc_info=True)


_TYPE_TAGS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})

