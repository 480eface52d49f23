"""What the request log holds: request records and deploy records, decoded; a summary of records.

Schema (`handlers.records`, `deployer.naming`): partition key `request_id`; GSI `by_outcome`
(`outcome`, `ts` in epoch ms) and GSI `by_version` (`version`, `ts`). The runtime writes one
record per request (inputs and outputs only as the monitoring policy allows, errors always);
`handlers.recorder` (AWS) or the emulator turns them into items. Deploy records
(`request_id = deploy#<env>#<version>`, `outcome = deploy`) hold the spec and the code hash of each
published version: `deployer debug` diffs them. They carry no TTL, so the history of what was
deployed outlives the request records. The queries are in `deployer.ops.requests`.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from deployer.aws.clients import Endpoint
from deployer.aws.dynamodb import RequestTable
from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from handlers.records import JSON_ATTRIBUTES, OUTCOME_INDEX, OUTCOME_INDEX_PARTITION, OUTCOME_INDEX_SORT

DEPLOY_OUTCOME = "deploy"
DEPLOY_PREFIX = "deploy#"
#: String attributes holding JSON text: the record's input/output, and a deploy record's spec/faults.
_JSON_TEXT = frozenset({*JSON_ATTRIBUTES, "spec", "faults"})


@dataclass(frozen=True)
class RequestRecord:
    """One request as the request log kept it."""

    request_id: str
    ts_ms: int
    version: str
    action: str
    status: int
    outcome: str
    latency_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    error_type: str | None
    error_message: str | None
    has_input: bool
    input: Any
    has_output: bool
    output: Any
    replay: bool
    raw: dict[str, Any] = field(repr=False, compare=False)
    cold_start: bool = False  # the request's execution environment started for it (its latency includes init)

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> RequestRecord:
        data = decode_item(item)
        return cls(
            request_id=str(data.get("request_id", "")),
            ts_ms=int(data.get("ts") or 0),
            version=str(data.get("version", "")),
            action=str(data.get("action", "")),
            status=int(data.get("status") or (500 if data.get("outcome") == "error" else 200)),
            outcome=str(data.get("outcome", "")),
            latency_ms=_float(data.get("latency_ms")),
            input_tokens=int(data.get("input_tokens") or 0),
            output_tokens=int(data.get("output_tokens") or 0),
            cost_usd=_float(data.get("cost_usd")),
            error_type=data.get("error_type"),
            error_message=data.get("error_message"),
            has_input="input" in data,
            input=data.get("input"),
            has_output="output" in data,
            output=data.get("output"),
            replay=bool(data.get("replay", False)),
            raw=data,
            cold_start=data.get("cold_start") is True or (_float(data.get("init_ms")) or 0.0) > 0,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "ts": self.ts_ms, "time": iso_ms(self.ts_ms), "version": self.version,
            "action": self.action, "status": self.status, "outcome": self.outcome, "latency_ms": self.latency_ms,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "cost_usd": self.cost_usd,
            "error_type": self.error_type, "error_message": self.error_message,
            "input": self.input if self.has_input else None, "input_kept": self.has_input,
            "output": self.output if self.has_output else None, "output_kept": self.has_output,
            "replay": self.replay, "cold_start": self.cold_start,
        }


@dataclass(frozen=True)
class DeployRecord:
    """What was deployed as one version: spec, code hash, who, when."""

    environment: str
    version: str
    ts_ms: int
    spec_hash: str
    code_hash: str
    spec: dict[str, Any] | None
    deployed_by: str | None
    faults: dict[str, Any]

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> DeployRecord:
        data = decode_item(item)
        _, env, version = ([*str(data.get("request_id", "")).split("#", 2), "", ""])[:3]
        spec = data.get("spec")
        faults = data.get("faults")
        return cls(environment=env, version=str(data.get("version") or version), ts_ms=int(data.get("ts") or 0),
                   spec_hash=str(data.get("spec_hash", "")), code_hash=str(data.get("code_hash", "")),
                   spec=spec if isinstance(spec, dict) else None, deployed_by=data.get("deployed_by"),
                   faults=faults if isinstance(faults, dict) else {})

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "version": self.version, "ts": self.ts_ms, "time": iso_ms(self.ts_ms),
                "spec_hash": self.spec_hash, "code_hash": self.code_hash, "deployed_by": self.deployed_by,
                "faults": self.faults}


# -- decoding ------------------------------------------------------------------------------------
def decode_item(item: dict[str, Any]) -> dict[str, Any]:
    """A low-level DynamoDB item -> plain values (JSON text attributes decoded, numbers as int/float)."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    out: dict[str, Any] = {}
    for key, typed in item.items():
        value = _plain(deserializer.deserialize(typed))
        if key in _JSON_TEXT and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[key] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def iso_ms(ts_ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}Z"


def parse_since(value: str | float | None) -> float | None:
    """`--since 1h` (also 30m, 2d, 90s, 1h30m or plain seconds) -> seconds; None for no bound."""
    if value is None or value == "":
        return None
    from deployer.spec.types import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise DeployerError(f"--since {value!r}: {exc}") from None
    if not isinstance(seconds, float) or seconds <= 0:
        raise DeployerError(f"--since {value!r}: expected a positive duration such as 30m, 1h or 2d")
    return seconds


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- deploy records ------------------------------------------------------------------------------
def deploy_record_key(environment: str, version: str) -> str:
    return f"{DEPLOY_PREFIX}{environment}#{version}"


def current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return os.environ.get("USER") or "unknown"


def deploy_record_item(model: DeploymentModel, version: str, code_hash: str, spec: Any = None, *,
                       deployed_by: str | None = None, now_ms: int | None = None,
                       faults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The deploy record of one published version, as a low-level DynamoDB item (no TTL: kept).

    `faults`: the fault injection the version was published with (the local emulator's deploys).
    """
    spec_value = model.to_dict() if spec is None else spec
    item = {
        "request_id": {"S": deploy_record_key(model.environment, str(version))},
        OUTCOME_INDEX_PARTITION: {"S": DEPLOY_OUTCOME},
        OUTCOME_INDEX_SORT: {"N": str(now_ms if now_ms is not None else _now_ms())},
        "agent": {"S": model.agent},
        "environment": {"S": model.environment},
        "version": {"S": str(version)},
        "spec_hash": {"S": model.spec_hash},
        "code_hash": {"S": str(code_hash)},
        "spec": {"S": json.dumps(spec_value, sort_keys=True, default=str)},
        "deployed_by": {"S": deployed_by or current_user()},
    }
    if faults is not None:
        item["faults"] = {"S": json.dumps(faults, sort_keys=True)}
    return item


def write_deploy_record(model: DeploymentModel, version: str, code_hash: str, spec: Any = None, *,
                        table: RequestTable | None = None, endpoint_url: str | None = None,
                        deployed_by: str | None = None) -> dict[str, Any]:
    """Record what was deployed as `version` (both deploy paths write this item after publishing).

    `spec` defaults to the compiled model (`model.to_dict()`); `table` is the request-log table
    (built for the model's region, or `endpoint_url`, when not given). Returns the item written.
    """
    if table is None:
        if model.target == "local":
            if not endpoint_url:
                raise DeployerError("write_deploy_record for a local environment needs the emulator's moto endpoint",
                                    hint="pass endpoint_url= (or table=)")
            endpoint = Endpoint.emulator(endpoint_url, model.region)
        else:
            endpoint = Endpoint.aws(model.region, url=endpoint_url)
        table = RequestTable(endpoint.client("dynamodb"), model.request_log.table_name)
    item = deploy_record_item(model, version, code_hash, spec, deployed_by=deployed_by)
    table.put(item)
    return item


def deploy_records(table: RequestTable, environment: str, *, limit: int = 50) -> list[DeployRecord]:
    """Deploy records of one environment, newest first."""
    items = table.query(
        OUTCOME_INDEX, (OUTCOME_INDEX_PARTITION, DEPLOY_OUTCOME), newest_first=True, limit=limit,
        filter_expression="begins_with(#id, :prefix)", values={":prefix": {"S": f"{DEPLOY_PREFIX}{environment}#"}},
        names={"#id": "request_id"})
    return [DeployRecord.from_item(item) for item in items]


def deploy_records_of(table: RequestTable, environment: str, versions: Iterable[str | None]) -> dict[str, DeployRecord]:
    """The deploy records of `versions`, read by key (one BatchGetItem), by version."""
    wanted = [v for v in versions if v]
    items = table.get_many([deploy_record_key(environment, v) for v in wanted])
    records = (DeployRecord.from_item(item) for item in items.values())
    return {r.version: r for r in records}


def summarize(records: Iterable[RequestRecord]) -> dict[str, Any]:
    """Requests, errors, error rate, p50/p99 latency and cost per request of some records.

    Cold-start requests count as requests (and errors), but their latency, which includes loading
    the agent, is left out of the percentiles: `cold_starts` says how many were left out.
    """
    rows = list(records)
    warm = [r for r in rows if not r.cold_start]
    latencies = sorted(r.latency_ms for r in warm if r.latency_ms is not None)
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    errors = sum(1 for r in rows if r.outcome == "error")
    return {
        "requests": len(rows),
        "errors": errors,
        "error_rate_pct": round(100.0 * errors / len(rows), 3) if rows else None,
        "latency_p50_ms": _percentile(latencies, 50),
        "latency_p99_ms": _percentile(latencies, 99),
        "cost_per_request_usd": (sum(costs) / len(costs)) if costs else None,
        "cold_starts": len(rows) - len(warm),
    }


def _percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (what CloudWatch reports for pNN over raw samples)."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return round(sorted_values[int(rank) - 1], 3)
