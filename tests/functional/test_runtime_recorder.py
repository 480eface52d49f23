"""The recorder Lambda writes request records into DynamoDB (moto), nothing lost on errors."""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

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
    assert result == {"written": 3}
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


def test_unprocessed_items_are_retried_then_reported() -> None:
    class Flaky:
        def __init__(self, failures: int) -> None:
            self.failures, self.calls = failures, 0

        def batch_write_item(self, RequestItems: dict[str, list[object]]) -> dict[str, object]:
            self.calls += 1
            if self.failures:
                self.failures -= 1
                return {"UnprocessedItems": RequestItems}
            return {"UnprocessedItems": {}}

    items = [{"request_id": {"S": str(i)}} for i in range(30)]
    flaky = Flaky(failures=2)
    assert recorder.write_items(flaky, TABLE, items) == 30
    assert flaky.calls == 4  # 2 chunks, the first retried twice
    with pytest.raises(RuntimeError, match="not written"):
        recorder.write_items(Flaky(failures=99), TABLE, items, attempts=2)
