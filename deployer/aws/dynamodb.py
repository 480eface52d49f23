"""DynamoDB: the request-log table, read and written item by item (low-level items).

Every query carries a `Limit` and stops after a bounded number of pages: the answer to "the last
100 failures" reads about 100 items, not the whole window. `request_table_definition` is the
table as infra/ creates it (for boto3 creators: the emulator, tests and benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypedDict

from typing_extensions import Unpack

from deployer.aws.errors import aws_call, error_code
from deployer.errors import DeployerError
from deployer.naming import VERSION_INDEX, VERSION_INDEX_PARTITION, VERSION_INDEX_SORT
from handlers.records import OUTCOME_INDEX, OUTCOME_INDEX_PARTITION, OUTCOME_INDEX_SORT, TABLE_PARTITION_KEY, TTL_ATTRIBUTE

#: Every paginated read stops here: a bounded answer beats a hung command.
MAX_PAGES = 50
#: The most items one query page asks for.
MAX_PAGE_ITEMS = 1000
#: BatchGetItem takes at most this many keys per call.
MAX_BATCH_KEYS = 100


class QueryShape(TypedDict, total=False):
    """What a query reads of its partition (see `query_kwargs`)."""

    sort_key: str
    since_ms: int | None
    until_ms: int | None
    newest_first: bool
    filter_expression: str | None
    values: dict[str, Any] | None
    names: dict[str, str] | None
    attributes: Sequence[str] | None


class MissingIndex(DeployerError):
    """The table has no such index (a table created before the index existed)."""


def request_table_definition(name: str) -> dict[str, Any]:
    """`CreateTable` arguments of the request-log table, as infra/request_log.py defines it."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": TABLE_PARTITION_KEY, "AttributeType": "S"},
                                 {"AttributeName": OUTCOME_INDEX_PARTITION, "AttributeType": "S"},
                                 {"AttributeName": OUTCOME_INDEX_SORT, "AttributeType": "N"},
                                 {"AttributeName": VERSION_INDEX_PARTITION, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": OUTCOME_INDEX, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": OUTCOME_INDEX_PARTITION, "KeyType": "HASH"},
                           {"AttributeName": OUTCOME_INDEX_SORT, "KeyType": "RANGE"}]},
            {"IndexName": VERSION_INDEX, "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": VERSION_INDEX_PARTITION, "KeyType": "HASH"},
                           {"AttributeName": VERSION_INDEX_SORT, "KeyType": "RANGE"}]},
        ],
    }


def create_request_table(client: Any, name: str) -> None:
    """Create the request-log table with its TTL (boto3 creators; AWS gets it from the stack)."""
    with aws_call("dynamodb:CreateTable", f"table {name}"):
        client.create_table(**request_table_definition(name))
        client.update_time_to_live(TableName=name,
                                   TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE})


class RequestTable:
    """The request-log table of one environment."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def get(self, key: str) -> dict[str, Any] | None:
        with aws_call("dynamodb:GetItem", f"table {self.table}"):
            response = self.client.get_item(TableName=self.table, Key={TABLE_PARTITION_KEY: {"S": key}},
                                            ConsistentRead=True)
        item = response.get("Item")
        return dict(item) if item else None

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The items of `keys` that exist, by key (BatchGetItem, unprocessed keys retried)."""
        found: dict[str, dict[str, Any]] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), MAX_BATCH_KEYS):
            request: dict[str, Any] = {self.table: {"Keys": [{TABLE_PARTITION_KEY: {"S": k}}
                                                             for k in wanted[start:start + MAX_BATCH_KEYS]]}}
            for _ in range(5):
                with aws_call("dynamodb:BatchGetItem", f"table {self.table}"):
                    response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    found[str(item[TABLE_PARTITION_KEY]["S"])] = dict(item)
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
        return found

    def put(self, item: dict[str, Any]) -> None:
        with aws_call("dynamodb:PutItem", f"table {self.table}"):
            self.client.put_item(TableName=self.table, Item=item)

    def query(self, index: str, partition: tuple[str, str], *, limit: int, max_pages: int = MAX_PAGES,
              **shape: Unpack[QueryShape]) -> Iterator[dict[str, Any]]:
        """At most `limit` items of one index partition, newest first (`shape`: see `query_kwargs`).

        Each page asks for what is still missing (a little more when a filter drops some), so that
        no page reads more than the answer needs.
        """
        kwargs = query_kwargs(self.table, index, partition, **shape)
        filtered = "FilterExpression" in kwargs
        yielded = 0
        for _ in range(max_pages):
            missing = limit - yielded
            if missing <= 0:
                return
            kwargs["Limit"] = min(MAX_PAGE_ITEMS, missing + missing // 4 + 10 if filtered else missing)
            response = self._query(index, kwargs)
            for item in response.get("Items", []):
                yield dict(item)
                yielded += 1
                if yielded >= limit:
                    return
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def newest_page(self, index: str, partition: tuple[str, str], *, limit: int,
                    **shape: Unpack[QueryShape]) -> tuple[list[dict[str, Any]], bool]:
        """One page of at most `limit` items read (fewer once filtered), newest first: (items, more exist)."""
        kwargs = query_kwargs(self.table, index, partition, **shape)
        kwargs["Limit"] = min(MAX_PAGE_ITEMS, limit)
        response = self._query(index, kwargs)
        return [dict(item) for item in response.get("Items", [])], bool(response.get("LastEvaluatedKey"))

    def _query(self, index: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            with aws_call("dynamodb:Query", f"index {index} of table {self.table}"):
                return dict(self.client.query(**kwargs))
        except DeployerError as exc:
            said = str(getattr(exc.__cause__, "response", {}).get("Error", {}).get("Message", ""))
            # DynamoDB: ValidationException "The table does not have the specified index"; moto: "Invalid index"
            if error_code(exc.__cause__) in ("ValidationException", "ResourceNotFoundException") and index in said \
                    and "index" in said.lower():
                raise MissingIndex(f"table {self.table} has no index {index}", hint="deploy the environment again: "
                                   "its stack adds the index") from exc.__cause__
            raise


def query_kwargs(table: str, index: str, partition: tuple[str, str], *, sort_key: str = OUTCOME_INDEX_SORT,
                 since_ms: int | None = None, until_ms: int | None = None, newest_first: bool = True,
                 filter_expression: str | None = None, values: dict[str, Any] | None = None,
                 names: dict[str, str] | None = None, attributes: Sequence[str] | None = None) -> dict[str, Any]:
    """`Query` arguments for one partition of `index`, the sort key within [since, until]; `attributes`
    projects the items (smaller pages)."""
    pkey, pvalue = partition
    attr_names = {"#pk": pkey, **(names or {})}
    attr_values: dict[str, Any] = {":pk": {"S": pvalue}, **(values or {})}
    condition = "#pk = :pk"
    if since_ms is not None or until_ms is not None:
        attr_names["#sk"] = sort_key
        attr_values[":lo"] = {"N": str(since_ms if since_ms is not None else 0)}
        attr_values[":hi"] = {"N": str(until_ms if until_ms is not None else 2**53)}
        condition += " AND #sk BETWEEN :lo AND :hi"
    kwargs: dict[str, Any] = {"TableName": table, "IndexName": index, "KeyConditionExpression": condition,
                              "ScanIndexForward": not newest_first}
    if filter_expression:
        kwargs["FilterExpression"] = filter_expression
    if attributes:
        projected = {f"#p{i}": name for i, name in enumerate(attributes)}
        attr_names.update(projected)
        kwargs["ProjectionExpression"] = ", ".join(projected)
    kwargs.update(ExpressionAttributeNames=attr_names, ExpressionAttributeValues=attr_values)
    return kwargs
