"""Request records: log line -> DynamoDB item and back; the log subscription payload; one bad record alone."""

from __future__ import annotations

import base64
import gzip
import json

from handlers.events import REQUEST_ID_MAX_CHARS, parse_event, valid_request_id
from handlers.recorder import (
    decode_subscription,
    item_bytes,
    item_to_record,
    items_from_messages,
    parse_line,
    prepare_item,
    read_messages,
    record_to_item,
    renamed,
    same_request,
)
from handlers.records import MAX_ITEM_BYTES

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


def test_a_lone_surrogate_becomes_a_replacement_character_and_is_counted() -> None:
    prepared = prepare_item({**LINE, "input": {"message": "a\ud800b"}, "error_message": "x\udfffy"}, ttl_days=7)
    assert prepared.item is not None and prepared.fixes == ("lone surrogates replaced",)
    assert prepared.item["input"] == {"S": json.dumps({"message": "a\ufffdb"}, ensure_ascii=False)}
    assert prepared.item["error_message"] == {"S": "x\ufffdy"}
    assert json.dumps(prepared.item).encode("utf-8")  # nothing left that UTF-8 refuses


def test_numbers_dynamodb_cannot_hold_are_left_out_and_said() -> None:
    prepared = prepare_item({**LINE, "confidence": float("nan"), "latency_ms": float("inf"), "cost_usd": 1e200,
                             "input_tokens": 10**40}, ttl_days=7)
    assert prepared.item is not None
    assert not {"confidence", "latency_ms", "cost_usd", "input_tokens"} & set(prepared.item)
    assert len(prepared.fixes) == 4 and all("not a number DynamoDB can hold" in f for f in prepared.fixes)


def test_an_invalid_request_id_is_replaced_by_the_same_valid_one_each_time() -> None:
    first = prepare_item({**LINE, "request_id": "x" * 10_000}, ttl_days=7)
    again = prepare_item({**LINE, "request_id": "x" * 10_000}, ttl_days=7)
    assert first.item is not None and again.item is not None
    replaced = first.item["request_id"]["S"]
    assert replaced == again.item["request_id"]["S"] and valid_request_id(replaced) == replaced
    assert "request id replaced" in first.fixes[0]
    for bad in ("deploy#prod#7", "has space", "é", "a~2", "", "-leading"):
        item = prepare_item({**LINE, "request_id": bad}, ttl_days=7).item
        assert item is not None and item["request_id"]["S"].startswith("invalid-")


def test_an_item_over_400_kb_has_its_longest_values_truncated() -> None:
    prepared = prepare_item({**LINE, "input": {"text": "y" * 500_000}, "output": {"ok": True}}, ttl_days=7)
    assert prepared.item is not None and item_bytes(prepared.item) <= MAX_ITEM_BYTES
    preview = json.loads(prepared.item["input"]["S"])
    assert preview["truncated"] is True and preview["chars"] > 500_000 and len(preview["preview"]) == 1000
    assert prepared.item["output"] == {"S": '{"ok": true}'} and "input truncated" in prepared.fixes[0]


def test_a_line_that_cannot_be_an_item_is_quarantined_alone() -> None:
    batch = read_messages([json.dumps({**LINE, "request_id": "good-1"}), json.dumps({**LINE, "ts": "yesterday"}),
                           json.dumps({**LINE, "request_id": "good-2"})], ttl_days=7)
    assert [i["request_id"]["S"] for i in batch.items] == ["good-1", "good-2"]
    assert len(batch.quarantined) == 1
    entry = batch.quarantined[0]
    assert entry["event"] == "request_record_quarantined" and "ValueError" in entry["reason"]
    assert json.loads(entry["record"])["ts"] == "yesterday"


def test_two_requests_sharing_an_id_are_both_kept_a_redelivery_is_not() -> None:
    other = {**LINE, "ts": 1_700_000_000_124}
    items = items_from_messages([json.dumps(LINE), json.dumps(other), json.dumps(LINE)], ttl_days=7)
    assert len(items) == 2
    assert same_request(items[0], record_to_item(LINE, 7)) and not same_request(items[0], items[1])
    assert renamed(items[1], 2)["request_id"] == {"S": "r-1~2"}
    assert renamed(items[1], 2)["reused_request_id"] == {"S": "r-1"}


def test_client_request_ids_are_taken_only_when_valid() -> None:
    def http(request_id: str) -> str | None:
        event = {"requestContext": {"http": {"method": "POST"}}, "rawPath": "/route", "body": "{}",
                 "headers": {"x-request-id": request_id}}
        return parse_event(event).request_id

    assert http("3f2b9c0e-5a1d-4c7e-9e1b-2d3c4b5a6f70") == "3f2b9c0e-5a1d-4c7e-9e1b-2d3c4b5a6f70"
    assert http("order:42/retry=1+x@host_a.b") == "order:42/retry=1+x@host_a.b"
    assert http("a" * REQUEST_ID_MAX_CHARS) == "a" * REQUEST_ID_MAX_CHARS
    for bad in ("a" * (REQUEST_ID_MAX_CHARS + 1), "x" * 10_000, "deploy#local#1", "a~2", "two words", 'q"uote',
                "caf\u00e9", "\ud800", "", "-x", "a\nb"):
        assert http(bad) is None, bad
    direct = parse_event({"action": "route", "input": {}, "request_id": "x" * 10_000})
    assert direct.request_id is None
    assert parse_event({"action": "route", "input": {}, "request_id": 42}).request_id is None
