"""One small client per AWS service, the only ops code that talks to botocore.

Every call goes through `aws_call`, which turns a botocore `ClientError` (or an unreachable
endpoint, or missing credentials) into a `DeployerError` naming the operation, the resource and
a suggestion. Clients are built from an `Endpoint`: `url=None` is AWS itself (boto3 still honours
`AWS_ENDPOINT_URL`), a loopback URL is the local emulator's moto server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from deployer.errors import DeployerError

#: moto accepts any credentials; never send real ones to a local endpoint.
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
MAX_PAGES = 50  # every paginated read stops here: a bounded answer beats a hung command


@dataclass(frozen=True)
class Endpoint:
    """Where the agent's AWS resources live: AWS (`url=None`) or the emulator's moto server."""

    region: str
    url: str | None = None
    local: bool = False

    def client(self, service: str) -> Any:
        import boto3  # heavy: imported where used
        from botocore.config import Config

        kwargs: dict[str, Any] = {"region_name": self.region,
                                  "config": Config(retries={"max_attempts": 3, "mode": "standard"},
                                                   connect_timeout=5, read_timeout=60)}
        if self.url:
            kwargs["endpoint_url"] = self.url
        if self.local:
            kwargs.update(LOCAL_CREDENTIALS)
        return boto3.client(service, **kwargs)  # type: ignore[call-overload]


@contextmanager
def aws_call(operation: str, resource: str, suggestion: str | None = None) -> Iterator[None]:
    """Wrap one AWS call: botocore failures become a `DeployerError` a person can act on."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", str(exc))
        hint = suggestion or _suggestion_for(code)
        raise DeployerError(f"{operation} on {resource} failed: {code}: {message}", hint=hint) from exc
    except NoCredentialsError as exc:
        raise DeployerError(f"{operation} on {resource}: no AWS credentials found",
                            hint="configure credentials (AWS_PROFILE, `aws sso login`), or use --env local") from exc
    except EndpointConnectionError as exc:
        raise DeployerError(f"{operation} on {resource}: cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}",
                            hint="is the emulator running (`deployer local up`)? is the region right?") from exc
    except BotoCoreError as exc:
        raise DeployerError(f"{operation} on {resource} failed: {exc}", hint=suggestion) from exc


def _suggestion_for(code: str) -> str | None:
    if code in ("ResourceNotFoundException", "NotFoundException", "ValidationException"):
        return "has this environment been deployed (`deployer deploy --env ENV`)?"
    if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation", "ExpiredTokenException"):
        return "check the credentials and the IAM permissions of the caller (`aws sts get-caller-identity`)"
    if code in ("ThrottlingException", "ProvisionedThroughputExceededException", "TooManyRequestsException"):
        return "AWS is throttling: retry in a moment, or ask for less (--limit, --since)"
    return None


class RequestTable:
    """The request-log table (DynamoDB low-level items)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, key: str) -> dict[str, Any] | None:
        with aws_call("dynamodb:GetItem", f"table {self.table}"):
            response = self.client.get_item(TableName=self.table, Key={"request_id": {"S": key}}, ConsistentRead=True)
        item = response.get("Item")
        return dict(item) if item else None

    def put(self, item: dict[str, Any]) -> None:
        with aws_call("dynamodb:PutItem", f"table {self.table}"):
            self.client.put_item(TableName=self.table, Item=item)

    def query_index(self, index: str, partition: tuple[str, str], sort: tuple[str, int | None, int | None], *,
                    newest_first: bool = True, limit: int | None = None, max_pages: int = MAX_PAGES,
                    filter_expression: str | None = None, values: dict[str, Any] | None = None,
                    names: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Items of one index partition, sort key within [low, high], newest first; bounded pages."""
        pkey, pvalue = partition
        skey, low, high = sort
        condition = "#pk = :pk"
        attr_names = {"#pk": pkey, **(names or {})}
        attr_values: dict[str, Any] = {":pk": {"S": pvalue}, **(values or {})}
        if low is not None or high is not None:
            attr_names["#sk"] = skey
            attr_values[":lo"] = {"N": str(low if low is not None else 0)}
            attr_values[":hi"] = {"N": str(high if high is not None else 2**53)}
            condition += " AND #sk BETWEEN :lo AND :hi"
        kwargs: dict[str, Any] = {"TableName": self.table, "IndexName": index, "KeyConditionExpression": condition,
                                  "ExpressionAttributeNames": attr_names, "ExpressionAttributeValues": attr_values,
                                  "ScanIndexForward": not newest_first}
        if filter_expression:
            kwargs["FilterExpression"] = filter_expression
        if limit is not None and not filter_expression:
            kwargs["Limit"] = max(1, min(limit, 1000))
        yielded = 0
        for _ in range(max_pages):
            with aws_call("dynamodb:Query", f"index {index} of table {self.table}"):
                response = self.client.query(**kwargs)
            for item in response.get("Items", []):
                yield dict(item)
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


class FunctionClient:
    """One Lambda function: its alias, versions and invocations."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def alias(self, alias: str) -> dict[str, Any] | None:
        """The alias (`FunctionVersion`, `RoutingConfig`), or None if the function or alias is missing."""
        try:
            with aws_call("lambda:GetAlias", f"alias {alias} of function {self.name}"):
                return dict(self.client.get_alias(FunctionName=self.name, Name=alias))
        except DeployerError as exc:
            if "ResourceNotFoundException" in exc.message:
                return None
            raise

    def versions(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"FunctionName": self.name}
        for _ in range(MAX_PAGES):
            with aws_call("lambda:ListVersionsByFunction", f"function {self.name}"):
                response = self.client.list_versions_by_function(**kwargs)
            out += [v for v in response.get("Versions", []) if v.get("Version") != "$LATEST"]
            if not response.get("NextMarker"):
                break
            kwargs["Marker"] = response["NextMarker"]
        return out

    def invoke(self, qualifier: str, payload: dict[str, Any]) -> tuple[dict[str, Any], str | None, str | None]:
        """Invoke one version synchronously: (decoded payload, function error, request id)."""
        with aws_call("lambda:Invoke", f"function {self.name}:{qualifier}",
                      "check that the version exists (`deployer status`) and that you may invoke it"):
            response = self.client.invoke(FunctionName=self.name, Qualifier=qualifier, InvocationType="RequestResponse",
                                          Payload=json.dumps(payload).encode())
        raw = response["Payload"].read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"raw": raw.decode("utf-8", "replace")}
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        return (body if isinstance(body, dict) else {"value": body}), response.get("FunctionError"), request_id


class AlarmClient:
    """CloudWatch alarms and metrics."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def alarms(self, names: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(names), 100):
            chunk = names[start:start + 100]
            with aws_call("cloudwatch:DescribeAlarms", f"alarms {', '.join(chunk)}"):
                response = self.client.describe_alarms(AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
            out += response.get("MetricAlarms", []) + response.get("CompositeAlarms", [])
        return out

    def history(self, name: str, *, max_records: int = 50) -> list[dict[str, Any]]:
        with aws_call("cloudwatch:DescribeAlarmHistory", f"alarm {name}"):
            response = self.client.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate",
                                                          MaxRecords=max_records, ScanBy="TimestampDescending")
        return list(response.get("AlarmHistoryItems", []))


class LogsClient:
    """CloudWatch Logs: the function's log group."""

    def __init__(self, client: Any, group: str) -> None:
        self.client = client
        self.group = group

    def filter(self, pattern: str | None, *, start_ms: int, end_ms: int | None = None, limit: int = 100,
               max_pages: int = 20) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"logGroupName": self.group, "startTime": start_ms, "limit": min(limit, 10_000)}
        if end_ms is not None:
            kwargs["endTime"] = end_ms
        if pattern:
            kwargs["filterPattern"] = pattern
        events: list[dict[str, Any]] = []
        for _ in range(max_pages):  # events come oldest first: keep reading, keep the newest `limit`
            with aws_call("logs:FilterLogEvents", f"log group {self.group}",
                          "has the function been invoked yet? its log group appears with its first request"):
                response = self.client.filter_log_events(**kwargs)
            events += response.get("events", [])
            del events[:-limit]
            token = response.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        return events
