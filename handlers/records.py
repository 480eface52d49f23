"""The request record: one per request, the same shape in AWS and in the emulator.

The runtime writes each request's record as part of its one structured log line (no network
round trip on the request path). A log subscription (`handlers.recorder` in AWS, the emulator
locally) turns those lines into items of the request-log DynamoDB table, which `deployer errors`
and `deployer replay` read.

Table schema (shared by infra/, the emulator and operations):
- partition key `request_id` (S); TTL attribute `expires_at` (N, epoch seconds)
- GSI `by_outcome`: partition `outcome` (S: "ok" | "error" | "deploy"), sort `ts` (N, epoch ms)
Deploy records (written at deploy time: version, spec hash, code hash, spec) use
`request_id = "deploy#<environment>#<version>"` and `outcome = "deploy"`.

Request ids never contain `#` (`handlers.events.valid_request_id`), so no request can take a deploy
record's key. A request whose id is already taken by another request (a client reusing its
`x-request-id`) is recorded as `<id>~2`, `<id>~3`, ... with `reused_request_id` = `<id>`: no
record overwrites another request's.
"""

from __future__ import annotations

TABLE_PARTITION_KEY = "request_id"
TTL_ATTRIBUTE = "expires_at"
OUTCOME_INDEX = "by_outcome"
OUTCOME_INDEX_PARTITION = "outcome"
OUTCOME_INDEX_SORT = "ts"
#: The structured log line that carries a request record has this `event` value.
REQUEST_EVENT = "request"
#: How such a line starts: the runtime writes `event` first (`handlers.telemetry`), so a reader can
#: tell a record from a line the agent printed that merely mentions one.
RECORD_LINE_START = '{"event": "' + REQUEST_EVENT + '"'
#: Item attributes holding JSON text (any JSON value survives DynamoDB's type rules this way):
#: decode them with `json.loads`, or read whole items with `handlers.recorder.item_to_record`.
JSON_ATTRIBUTES = ("input", "output")
#: CloudWatch Logs subscription filter pattern that selects the request-record lines.
RECORD_FILTER_PATTERN = '{ $.event = "request" }'
#: DynamoDB's item size limit: a bigger record has its input/output truncated, else is quarantined.
MAX_ITEM_BYTES = 400 * 1024
#: `<id>~<n>`: the n-th request recorded under a request id another request already had.
REUSED_ID_MARK = "~"
#: The attribute naming the request id a renamed record was sent with.
REUSED_ID_ATTRIBUTE = "reused_request_id"
