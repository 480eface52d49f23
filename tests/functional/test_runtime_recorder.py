"""The recorder Lambda writes request records into DynamoDB (moto): nothing lost, one bad record alone."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

import handlers.recorder as recorder
from handlers.config import RuntimeConfig
from handlers.recorder import item_to_record
from handlers.records import OUTCOME_INDEX
from handlers.runtime import Runtime
from tests.helpers.agent_fixtures import compile_project, forget_modules, write_project

TABLE = "requests"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "request_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": t}
                                  for n, t in (("request_id", "S"), ("outcome", "S"), ("ts", "N"))],
            GlobalSecondaryIndexes=[{"IndexName": OUTCOME_INDEX, "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "outcome", "KeyType": "HASH"},
                                                   {"AttributeName": "ts", "KeyType": "RANGE"}]}],
            BillingMode="PAY_PER_REQUEST",
        )
        monkeypatch.setattr(recorder, "_client", client)
        monkeypatch.setenv(recorder.TABLE_ENV, TABLE)
        monkeypatch.setenv(recorder.TTL_ENV, "3")
        yield client


def subscription_event(lines: list[str]) -> dict[str, object]:
    payload = {"messageType": "DATA_MESSAGE", "logGroup": "/aws/lambda/f", "logStream": "s",
               "logEvents": [{"id": str(i), "timestamp": 0, "message": m} for i, m in enumerate(lines)]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


def test_runtime_lines_become_table_items_errors_included(dynamodb: object, tmp_path: Path) -> None:
    forget_modules()
    model = compile_project(write_project(tmp_path, sample_rate=0.0))
    stream = io.StringIO()
    runtime = Runtime(RuntimeConfig.from_dict(model.runtime_config()), stream=stream)
    for action, body in (("echo", '{"text": "a@b.io"}'), ("fail", '{"text": "x"}'), ("echo", "{bad")):
        runtime.handle({"requestContext": {"http": {"method": "POST"}}, "rawPath": f"/{action}", "body": body})
    result = recorder.handler(subscription_event(stream.getvalue().splitlines()))
    assert result == {"written": 3, "renamed": 0, "sanitised": 0, "quarantined": 0}
    client = dynamodb
    errors = client.query(  # type: ignore[attr-defined]
        TableName=TABLE, IndexName=OUTCOME_INDEX, KeyConditionExpression="outcome = :o",
        ExpressionAttributeValues={":o": {"S": "error"}},
    )["Items"]
    records = sorted((item_to_record(i) for i in errors), key=lambda r: r["status"])
    assert [(r["status"], r["error_type"]) for r in records] == [(400, "BadRequest"), (500, "ValueError")]
    assert records[1]["input"] == {"text": "x"}  # errors keep their input even at sample_rate 0
    assert records[0]["input"] == "{bad"
    ok = client.query(  # type: ignore[attr-defined]
        TableName=TABLE, IndexName=OUTCOME_INDEX, KeyConditionExpression="outcome = :o",
        ExpressionAttributeValues={":o": {"S": "ok"}},
    )["Items"]
    assert len(ok) == 1 and "input" not in ok[0]  # sample_rate 0.0: no input on successes
    assert int(ok[0]["expires_at"]["N"]) == int(ok[0]["ts"]["N"]) // 1000 + 3 * 86400


def line(request_id: str, ts: int, **extra: object) -> str:
    record = {"event": "request", "request_id": request_id, "ts": ts, "action": "route", "version": "3",
              "status": 500, "outcome": "error", "error_type": "ValueError", **extra}
    return json.dumps(record)  # ensure_ascii: a lone surrogate travels as \\ud800, as CloudWatch Logs carries it


def stored(client: object) -> dict[str, dict[str, Any]]:
    items = client.scan(TableName=TABLE)["Items"]  # type: ignore[attr-defined]
    return {i["request_id"]["S"]: item_to_record(i) for i in items}


def test_one_bad_record_never_costs_the_others_their_place(dynamodb: object, capsys: pytest.CaptureFixture[str]) -> None:
    good = [line(f"good-{i}", 1_000 + i) for i in range(9)]
    bad = [line("x" * 10_000, 1), line("surrogate", 2, input={"text": "\ud800"}), line("nan", 3, confidence=float("nan")),
           line("huge", 4, input={"text": "y" * 500_000}), json.dumps({"event": "request", "request_id": "no-ts",
                                                                       "ts": "yesterday"})]
    result = recorder.handler(subscription_event([*bad[:3], *good, *bad[3:]]))
    assert result == {"written": 13, "renamed": 0, "sanitised": 4, "quarantined": 1}
    records = stored(dynamodb)
    assert {f"good-{i}" for i in range(9)} | {"surrogate", "nan", "huge"} <= set(records)
    assert records["surrogate"]["input"] == {"text": "\ufffd"} and "confidence" not in records["nan"]
    assert records["huge"]["input"]["truncated"] is True
    replaced = [k for k in records if k.startswith("invalid-")]
    assert len(replaced) == 1 and len(records) == 13
    quarantined = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [q["request_id"] for q in quarantined] == ["no-ts"] and "ValueError" in quarantined[0]["reason"]


def test_a_reused_request_id_never_overwrites_another_requests_record(dynamodb: object) -> None:
    first, second = line("client-7", 1_000, input={"n": 1}), line("client-7", 2_000, input={"n": 2})
    assert recorder.handler(subscription_event([first]))["renamed"] == 0
    assert recorder.handler(subscription_event([second]))["renamed"] == 1
    again = recorder.handler(subscription_event([first, second]))  # Lambda retries a delivery: nothing new
    assert again["written"] == 2
    records = stored(dynamodb)
    assert set(records) == {"client-7", "client-7~2"}
    assert records["client-7"]["input"] == {"n": 1} and records["client-7~2"]["input"] == {"n": 2}
    assert records["client-7~2"]["reused_request_id"] == "client-7"


class Refusing:
    """DynamoDB at the boundary (moto behind it) refusing chosen items, as AWS would."""

    def __init__(self, client: object, codes: dict[str, str]) -> None:
        self.client, self.codes = client, codes

    def put_item(self, **kwargs: object) -> object:
        from botocore.exceptions import ClientError

        key = kwargs["Item"]["request_id"]["S"]  # type: ignore[index]
        if key in self.codes:
            raise ClientError({"Error": {"Code": self.codes[key], "Message": "refused"}}, "PutItem")
        return self.client.put_item(**kwargs)  # type: ignore[attr-defined]


def test_an_item_dynamodb_refuses_is_quarantined_alone_a_failure_raises_after_the_rest(dynamodb: object) -> None:
    items = recorder.items_from_messages([line(f"r-{i}", 1_000 + i) for i in range(5)], ttl_days=3)
    done = recorder.write_items(Refusing(dynamodb, {"r-1": "ValidationException"}), TABLE, items)
    assert (done.written, len(done.quarantined)) == (4, 1) and done.quarantined[0]["request_id"] == "r-1"
    with pytest.raises(RuntimeError, match=r"1 request records were not written .* retried; 4 were"):
        recorder.write_items(Refusing(dynamodb, {"r-2": "ProvisionedThroughputExceededException"}), TABLE, items)
    assert {f"r-{i}" for i in (0, 1, 3, 4)} <= set(stored(dynamodb))  # the others are written, then it raises
