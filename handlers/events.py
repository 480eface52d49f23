"""Lambda events in, Lambda responses out.

Accepted events:
- Function URL / API Gateway HTTP API (payload 2.0): `POST /{action}`, JSON body = input.
  Header `x-deployer-replay: 1` marks a replay; `x-request-id` sets the request id.
- API Gateway REST (payload 1.0): same, read from `httpMethod`/`path`.
- Direct invoke: `{"action": "route", "input": {...}, "request_id": "...", "replay": false}`.

HTTP events get `{"statusCode", "headers", "body"}`; direct invokes get the body object itself
with a `status` key added.

A client-chosen request id (`x-request-id`, a direct invoke's `request_id`) becomes the key of the
request's record, so it is taken only when `valid_request_id` accepts it: 1 to 128 characters of
letters, digits and `. _ : @ = + / -`, starting with a letter or digit. Anything else (a
10,000-character header, spaces, quotes, non-ASCII, `#` which deploy records use, `~` which marks
a reused id) is ignored and the request gets an id of its own, returned in the `x-request-id`
response header as always.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

UNSET: Any = object()
#: The longest client-chosen request id kept (a DynamoDB key may hold 2,048 bytes; ids are keys).
REQUEST_ID_MAX_CHARS = 128
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@=+/-"


def valid_request_id(value: Any) -> str | None:
    """`value` when it may serve as a request id (see the module docstring), else None."""
    if value.__class__ is not str or not 0 < len(value) <= REQUEST_ID_MAX_CHARS or not value[0].isalnum():
        return None
    if value.strip(_ID_CHARS) or not value.isascii():  # strip removes every allowed character: nothing may remain
        return None
    return value


class Request:
    """One request, whatever event it came in."""

    __slots__ = ("action", "body", "data", "http", "method", "replay", "request_id")

    def __init__(
        self,
        action: str,
        http: bool,
        method: str = "POST",
        body: str | bytes | None = None,  # raw JSON of an HTTP request
        data: Any = UNSET,  # parsed input of a direct invoke
        request_id: str | None = None,
        replay: bool = False,
    ) -> None:
        self.action = action
        self.http = http
        self.method = method
        self.body = body
        self.data = data
        self.request_id = request_id
        self.replay = replay

    def size_bytes(self) -> int:
        if self.body is not None:
            return len(self.body) if isinstance(self.body, bytes) else len(self.body.encode())
        if self.data is UNSET:
            return 0
        import json

        return len(json.dumps(self.data, default=str).encode())

    def input_for_log(self) -> Any:
        """The input as a JSON value for the request record (the raw text if it is not JSON)."""
        if self.body is None:
            return None if self.data is UNSET else self.data
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", "replace") if isinstance(self.body, bytes) else self.body


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def parse_event(event: Any) -> Request:
    """Read an event; raises ValueError for a shape it does not know."""
    if event.__class__ is not dict:
        raise ValueError(f"event must be a JSON object, not {type(event).__name__}")
    context = event.get("requestContext")
    if context.__class__ is dict and ("http" in context or "httpMethod" in event):
        http = context.get("http") or {}
        method = http.get("method") or event.get("httpMethod") or "POST"
        if method != "POST":
            method = str(method).upper()
        params = event.get("pathParameters")
        action = params.get("action") if params else None
        if not action:
            path = event.get("rawPath") or http.get("path") or event.get("path") or "/"
            action = path.rstrip("/").rpartition("/")[2]
        headers = event.get("headers") or {}
        if "httpMethod" in event:  # payload 1.0 keeps the client's header case; 2.0 lower-cases them
            headers = {str(k).lower(): v for k, v in headers.items()}
        body = event.get("body")
        if body is None:
            body = ""
        elif event.get("isBase64Encoded"):
            import base64

            body = base64.b64decode(body)
        replay = headers.get("x-deployer-replay")
        return Request(str(action), True, method, body, UNSET, valid_request_id(headers.get("x-request-id")),
                       replay is not None and _truthy(replay))
    if "action" in event:
        return Request(
            action=str(event["action"]),
            http=False,
            data=event.get("input", {}),
            request_id=valid_request_id(event.get("request_id")),
            replay=bool(event.get("replay", False)),
        )
    raise ValueError("unknown event shape: expected a Function URL / API Gateway event or {'action', 'input'}")


def http_response(status: int, body: str, request_id: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "x-request-id": request_id},
        "body": body,
    }


def error_body(request_id: str, error_type: str, message: str) -> str:
    import json

    return json.dumps({"request_id": request_id, "error": {"type": error_type, "message": message}})
