"""The request log, read: failed requests, recent requests, one version's requests, one request.

Every read is a query by key with a `Limit`: the failures come from the `by_outcome` index
(partition `error`, newest first), a version's requests from the `by_version` index (partition
`<version>`, newest first), one request by its id. A table created before `by_version` existed
(a stack deployed before it, or an emulator that does not create it yet) is read through
`by_outcome` with a version filter instead, a bounded number of pages.

When a request is not there, `get_request` says why where it can be told: the id is malformed (a
usage error); in the emulator, its request log says (never sent, quarantined, or dropped past its
bound); in AWS, the log holds nothing yet, or begins after the request would have been made (a
first deploy), or records expire.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from deployer.aws.dynamodb import MAX_PAGES, MissingIndex
from deployer.errors import DeployerError
from deployer.naming import VERSION_INDEX, VERSION_INDEX_PARTITION
from deployer.ops.records import DEPLOY_PREFIX, RequestRecord, iso_ms
from deployer.ops.target import OpsTarget
from handlers.events import REQUEST_ID_MAX_CHARS, valid_request_id
from handlers.records import OUTCOME_INDEX, OUTCOME_INDEX_PARTITION, REUSED_ID_MARK

REQUEST_OUTCOMES = ("error", "ok")
#: What a comparison of versions reads of each record (the rest stays in the table).
SUMMARY_ATTRIBUTES = ("request_id", "ts", "version", "action", "status", "outcome", "latency_ms", "cost_usd",
                      "replay", "cold_start", "init_ms")
#: Without the version index, a version's requests are found among all of them: this many pages at most.
FALLBACK_PAGES = 5
#: What a request id looks like (the runtime's rule, `handlers.events.valid_request_id`, and a reused
#: id's `~<n>`): the x-request-id response header, the first column of `deployer errors`.
REQUEST_ID_HELP = (f"a request id is 1 to {REQUEST_ID_MAX_CHARS} letters, digits and . _ : @ = + / - starting with a "
                   "letter or digit (a reused one ends in ~2, ~3 ...), e.g. 4f9c2b1e-7d3a-4e8b-9c21-5a6f0e1d2c3b: the "
                   "x-request-id response header, or the first column of `deployer errors`")


def now_ms() -> int:
    return int(time.time() * 1000)


def _window_start(target: OpsTarget, since_s: float | None, now: int) -> int:
    window_s = since_s if since_s is not None else target.model.request_log.ttl_days * 86400.0
    return int(now - window_s * 1000)


def _filter(*, outcomes: Sequence[str] | None = None, version: str | None = None,
            include_replays: bool = False) -> tuple[str | None, dict[str, Any], dict[str, str]]:
    clauses: list[str] = []
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    if outcomes is not None:
        names["#o"] = OUTCOME_INDEX_PARTITION
        keys = [f":o{i}" for i in range(len(outcomes))]
        values.update({key: {"S": outcome} for key, outcome in zip(keys, outcomes, strict=True)})
        clauses.append(f"#o IN ({', '.join(keys)})")
    if version is not None:
        names["#v"] = VERSION_INDEX_PARTITION
        values[":v"] = {"S": str(version)}
        clauses.append("#v = :v")
    if not include_replays:
        names["#r"] = "replay"
        values[":false"] = {"BOOL": False}
        clauses.append("(attribute_not_exists(#r) OR #r = :false)")
    return " AND ".join(clauses) or None, values, names


def _by_outcome(target: OpsTarget, outcome: str, *, since_ms: int, limit: int, version: str | None,
                include_replays: bool, attributes: Sequence[str] | None,
                max_pages: int = MAX_PAGES) -> list[RequestRecord]:
    expression, values, names = _filter(version=version, include_replays=include_replays)
    items = target.requests().query(OUTCOME_INDEX, (OUTCOME_INDEX_PARTITION, outcome), since_ms=since_ms, limit=limit,
                                    filter_expression=expression, values=values, names=names, attributes=attributes,
                                    max_pages=max_pages)
    return [RequestRecord.from_item(item) for item in items]


def _newest(groups: Iterable[list[RequestRecord]], limit: int) -> list[RequestRecord]:
    merged = [record for group in groups for record in group]
    merged.sort(key=lambda r: r.ts_ms, reverse=True)
    return merged[:limit]


def find_requests(target: OpsTarget, *, limit: int, errors_only: bool = False, version: str | None = None,
                  since_s: float | None = None, include_replays: bool = False,
                  attributes: Sequence[str] | None = None, now: int | None = None) -> list[RequestRecord]:
    """The newest `limit` requests (or failed requests) in the window, of one version or all; newest first."""
    if limit <= 0:
        return []
    since_ms = _window_start(target, since_s, now if now is not None else now_ms())
    outcomes = REQUEST_OUTCOMES[:1] if errors_only else REQUEST_OUTCOMES
    if version is not None:
        expression, values, names = _filter(outcomes=outcomes, include_replays=include_replays)
        try:
            items = target.requests().query(VERSION_INDEX, (VERSION_INDEX_PARTITION, str(version)), since_ms=since_ms,
                                            limit=limit, filter_expression=expression, values=values, names=names,
                                            attributes=attributes)
            return [RequestRecord.from_item(item) for item in items]
        except MissingIndex:
            return _newest((_by_outcome(target, outcome, since_ms=since_ms, limit=limit, version=str(version),
                                        include_replays=include_replays, attributes=attributes,
                                        max_pages=FALLBACK_PAGES) for outcome in outcomes), limit)
    return _newest((_by_outcome(target, outcome, since_ms=since_ms, limit=limit, version=None,
                                include_replays=include_replays, attributes=attributes) for outcome in outcomes), limit)


def list_errors(target: OpsTarget, *, since_s: float | None = None, version: str | None = None, limit: int = 100,
                include_replays: bool = False, now: int | None = None) -> list[RequestRecord]:
    """The last failed requests, newest first (replays left out unless asked for)."""
    return find_requests(target, limit=limit, errors_only=True, version=version, since_s=since_s,
                         include_replays=include_replays, now=now)


def recent_requests(target: OpsTarget, *, limit: int, errors_only: bool = False, since_s: float | None = None,
                    version: str | None = None, now: int | None = None) -> list[RequestRecord]:
    """The last `limit` requests (or failed requests), newest first, replays left out."""
    return find_requests(target, limit=limit, errors_only=errors_only, version=version, since_s=since_s, now=now)


def version_sample(target: OpsTarget, version: str, *, window_s: float, limit: int,
                   now: int | None = None) -> tuple[list[RequestRecord], bool]:
    """The newest requests of one version in the window, replays left out: one page of at most
    `limit` records read, and whether there are more (then the figures are of a sample)."""
    since_ms = _window_start(target, window_s, now if now is not None else now_ms())
    expression, values, names = _filter(outcomes=REQUEST_OUTCOMES)
    try:
        items, more = target.requests().newest_page(
            VERSION_INDEX, (VERSION_INDEX_PARTITION, str(version)), since_ms=since_ms, limit=limit,
            filter_expression=expression, values=values, names=names, attributes=SUMMARY_ATTRIBUTES)
    except MissingIndex:
        rows = find_requests(target, limit=limit, version=version, since_s=window_s, attributes=SUMMARY_ATTRIBUTES,
                             now=now)
        return rows, len(rows) >= limit
    return [RequestRecord.from_item(item) for item in items], more


def version_samples(target: OpsTarget, versions: Iterable[str], *, window_s: float,
                    limit: int) -> dict[str, tuple[list[RequestRecord], bool]]:
    """`version_sample` of each version: what `status` and `debug` count, the same records for both."""
    return {v: version_sample(target, v, window_s=window_s, limit=limit) for v in dict.fromkeys(versions)}


# -- one request ---------------------------------------------------------------------------------
def check_request_id(request_id: str | None, *, env: str = "ENV") -> str:
    """`request_id` when it looks like one; otherwise a usage error that says what one looks like."""
    if request_id and request_id.startswith(DEPLOY_PREFIX):
        raise DeployerError(f"{request_id} is a deploy record, not a request", hint=f"see `deployer debug --env {env}`")
    base, mark, reuse = (request_id or "").partition(REUSED_ID_MARK)
    if request_id is None or valid_request_id(base) is None or (mark and not reuse.isdigit()):
        shown = "an empty request id" if not request_id else f"{request_id[:60]!r}"
        raise DeployerError(f"{shown} is not a request id", hint=REQUEST_ID_HELP, exit_code=2)
    return request_id


def log_begins(target: OpsTarget) -> int | None:
    """When the oldest request record kept was written (epoch ms); None when the log holds none."""
    oldest = [item for outcome in REQUEST_OUTCOMES
              for item in target.requests().query(OUTCOME_INDEX, (OUTCOME_INDEX_PARTITION, outcome), newest_first=False,
                                                  limit=1, attributes=("ts",))]
    times = [RequestRecord.from_item(item).ts_ms for item in oldest]
    return min(times) if times else None


def why_missing(target: OpsTarget, *, since_ms: int | None = None, now: int | None = None) -> str | None:
    """Why the log holds nothing at or after `since_ms` (None: the window is as old as the records kept)."""
    ttl_days = target.model.request_log.ttl_days
    begins = log_begins(target)
    if begins is None:
        return f"no request has been recorded in {target.environment!r} yet"
    current = now if now is not None else now_ms()
    if current - begins < ttl_days * 86_400_000 - 3_600_000 and (since_ms is None or since_ms < begins):
        return (f"the request log of {target.environment!r} begins at {iso_ms(begins)[:19].replace('T', ' ')} UTC "
                f"(the environment was first deployed, or {target.where} started with a fresh state, then)")
    return None


def get_request(target: OpsTarget, request_id: str, *, now: int | None = None) -> RequestRecord:
    """One request by id, or a `DeployerError` that says why it is missing and what to do."""
    env = target.environment
    check_request_id(request_id, env=env)
    item = target.requests().get(request_id)
    if item is not None:
        return RequestRecord.from_item(item)
    ttl_days = target.model.request_log.ttl_days
    hint = (f"list recent failures with `deployer errors --env {env}`; a request's id is in the x-request-id "
            "response header and in its log line")
    emulator = target.emulator() if target.local else None  # the emulator knows (kept, quarantined, dropped)
    reason = emulator.why_missing(request_id) if emulator is not None else why_missing(target, now=now)
    if reason is not None:
        raise DeployerError(f"no request with id {request_id}: {reason}", hint=hint)
    raise DeployerError(f"no request with id {request_id} in the last {ttl_days} days of records; records expire "
                        f"after {ttl_days} days", hint=hint)
