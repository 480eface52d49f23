"""The AWS code path of the ops commands against a real moto server: the environment, its records, its versions.

`staging` (target aws) of the root agent.yaml, with boto3 pointed at a moto server on 127.0.0.1
through AWS_ENDPOINT_URL: the same code that runs against AWS, another endpoint. Request records
are rendered by the runtime's own `Telemetry` and written by the real recorder
(`handlers.recorder`), so the items have exactly the shape the deployed stack writes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from deployer.aws.dynamodb import create_request_table as create_table
from deployer.compiled import DeploymentModel
from deployer.environments import Project
from deployer.ops.target import OpsTarget, resolve_target
from handlers import records as schema
from handlers.recorder import items_from_messages, write_items
from handlers.telemetry import RequestReport, Telemetry

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "agent.yaml"
DEPLOYER = str(Path(sys.executable).parent / "deployer")
ENV = "staging"


def post(url: str, body: Any) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def fresh_target(moto_url: str, *, version_index: bool = True) -> OpsTarget:
    """`staging` on a reset moto server (AWS_ENDPOINT_URL must point at it), with its request table."""
    post(f"{moto_url}/moto-api/reset", {})
    post(f"{moto_url}/moto-api/config", {"lambda": {"use_docker": False}})
    found = resolve_target(Project(SPEC).model(ENV))
    assert found.endpoint.url == moto_url and not found.local
    create_request_table(found, version_index=version_index)
    return found


def create_request_table(target: OpsTarget, *, version_index: bool = True) -> None:
    """The table as infra/ defines it; without `version_index`, as a stack deployed before that index has it."""
    client = target.endpoint.client("dynamodb")
    if version_index:
        create_table(client, target.table_name)
        return
    client.create_table(
        TableName=target.table_name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": schema.TABLE_PARTITION_KEY, "AttributeType": "S"},
                              {"AttributeName": schema.OUTCOME_INDEX_PARTITION, "AttributeType": "S"},
                              {"AttributeName": schema.OUTCOME_INDEX_SORT, "AttributeType": "N"}],
        KeySchema=[{"AttributeName": schema.TABLE_PARTITION_KEY, "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": schema.OUTCOME_INDEX, "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": schema.OUTCOME_INDEX_PARTITION, "KeyType": "HASH"},
                                               {"AttributeName": schema.OUTCOME_INDEX_SORT, "KeyType": "RANGE"}]}])


def request_line(model: DeploymentModel, *, request_id: str, version: str, status: int, ts_ms: int,
                 data: Any = None, output: Any = None, latency_ms: float = 20.0, cost_usd: float = 0.00002,
                 error: tuple[str, str] | None = None, replay: bool = False, cold_start: bool = False) -> str:
    """The runtime's request line; `cold_start` marks it as the first request of its execution environment."""
    telemetry = Telemetry(agent=model.agent, environment=model.environment, namespace="Deployer",
                          replay_namespace="Deployer/Replay", stream=io.StringIO())
    line = telemetry.log_line(RequestReport(
        request_id=request_id, ts_ms=ts_ms, action="route", version=version, status=status, latency_ms=latency_ms,
        input_tokens=12, output_tokens=3, cost_usd=cost_usd, error_type=error[0] if error else None,
        error_message=error[1] if error else None, input_json=None if data is None else json.dumps(data),
        output_json=None if output is None else json.dumps(output), replay=replay))
    return json.dumps({**json.loads(line), "cold_start": True}) if cold_start else line


def record(target: OpsTarget, lines: list[str]) -> None:
    write_items(target.endpoint.client("dynamodb"), target.table_name, items_from_messages(lines, 7))


def now_ms() -> int:
    return int(time.time() * 1000)


def publish_versions(target: OpsTarget, count: int, *, canary_weight: float | None = None) -> list[str]:
    """The function with `count` published versions; the alias on the last (or a canary of it)."""
    iam = target.endpoint.client("iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handlers/runtime.py", "def handler(event, context):\n    return event\n")
    lam = target.endpoint.client("lambda")
    lam.create_function(FunctionName=target.function_name, Runtime="python3.12", Role=role,
                        Handler="handlers.runtime.handler", Code={"ZipFile": code.getvalue()})
    versions = []
    for index in range(count):
        lam.update_function_configuration(FunctionName=target.function_name,
                                          Environment={"Variables": {"BUILD": str(index)}})
        versions.append(lam.publish_version(FunctionName=target.function_name)["Version"])
    if canary_weight is not None and count >= 2:
        lam.create_alias(FunctionName=target.function_name, Name=target.model.alias, FunctionVersion=versions[-2],
                         RoutingConfig={"AdditionalVersionWeights": {versions[-1]: canary_weight}})
    else:
        lam.create_alias(FunctionName=target.function_name, Name=target.model.alias, FunctionVersion=versions[-1])
    return versions


def cli(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "COLUMNS": "200"}
    return subprocess.run([DEPLOYER, *args, "--spec", str(SPEC), "--env", ENV], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=env)
