"""Request records: log line -> DynamoDB item and back; the log subscription payload."""

from __future__ import annotations

import base64
import gzip
import json

from handlers.recorder import decode_subscription, item_to_record, items_from_messages, parse_line, record_to_item

LINE = {
    "event": "request", "agent": "router", "environment": "prod", "level": "error", "request_id": "r-1",
    "ts": 1_700_000_000_123, "action": "route", "version": "7", "status": 500, "outcome": "error",
    "latency_ms": 12.5, "input_tokens": 3, "output_tokens": 0, "cost_usd": 2.5e-07, "confidence": None,
    "memory_mb": 60.0, "error_type": "ValueError", "error_message": "bad", "input": {"message": "hi", "n": 1.5},
    "replay": False,
}


def test_item_has_keys_index_and_ttl() -> None:
    item = record_to_item(LINE, ttl_days=7)
    assert item["request_id"] == {"S": "r-1"}
    assert item["outcome"] == {"S": "error"}
    assert item["ts"] == {"N": "1700000000123"}
    assert item["expires_at"] == {"N": str(1_700_000_000 + 7 * 86400)}
    assert item["input"] == {"S": json.dumps({"message": "hi", "n": 1.5})}
    assert item["replay"] == {"BOOL": False}
    assert "confidence" not in item and "event" not in item


def test_item_round_trips_to_the_record() -> None:
    record = item_to_record(record_to_item(LINE, ttl_days=1))
    expected = {k: v for k, v in LINE.items() if v is not None and k not in ("event", "level")}
    assert {k: record[k] for k in expected} == expected
    assert isinstance(record["status"], int) and isinstance(record["latency_ms"], float)


def test_only_request_lines_are_records() -> None:
    assert parse_line('{"_aws": {}, "Invocations": 1}') is None
    assert parse_line("START RequestId: x Version: 7") is None
    assert parse_line("2026-01-01T00:00:00Z\tr-1\tINFO\t" + json.dumps(LINE)) == LINE


def test_subscription_payload_is_decoded_and_duplicates_collapse() -> None:
    payload = {"messageType": "DATA_MESSAGE", "logGroup": "/aws/lambda/x", "logEvents": [
        {"id": "1", "timestamp": 1, "message": json.dumps(LINE)},
        {"id": "2", "timestamp": 1, "message": '{"_aws": {"Timestamp": 1}}'},
        {"id": "3", "timestamp": 1, "message": json.dumps(LINE)},
    ]}
    event = {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}
    messages = decode_subscription(event)
    assert len(messages) == 3
    assert len(items_from_messages(messages, ttl_days=7)) == 1


def test_control_messages_carry_no_records() -> None:
    payload = {"messageType": "CONTROL_MESSAGE", "logEvents": [{"message": "CWL CONTROL MESSAGE"}]}
    event = {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}
    assert decode_subscription(event) == []
