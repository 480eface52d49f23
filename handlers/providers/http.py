"""A small JSON-over-HTTP client (stdlib `http.client`, imported on first use)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from handlers.providers.base import (
    RETRY_STATUSES,
    ModelError,
    ModelRateLimited,
    ModelResponseError,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    Retryable,
)


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    timeout_s: float,
    label: str,
    hint: str,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST `payload` as JSON and return the JSON object answered.

    Raises `Retryable` (429, 5xx, timeouts, dropped connections) or a `ModelError` (unreachable
    server, other 4xx, malformed body). Secrets in `headers` never appear in a message.
    """
    import http.client
    import socket

    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelUnavailable(f"{label} endpoint {url!r} is not an http(s) URL; {hint}")
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(parts.hostname, parts.port, timeout=max(timeout_s, 0.001))
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    body = json.dumps(payload).encode()
    all_headers = {"content-type": "application/json", "accept": "application/json", **(headers or {})}
    try:
        conn.request("POST", path, body=body, headers=all_headers)
        response = conn.getresponse()
        status = response.status
        raw = response.read()
        retry_after = response.getheader("retry-after")
    except ConnectionRefusedError:
        raise ModelUnavailable(f"{label} at {base} is not reachable: connection refused; {hint}") from None
    except socket.gaierror as exc:
        raise ModelUnavailable(f"{label} at {base} is not reachable: {exc.strerror or exc}; {hint}") from None
    except TimeoutError:
        raise Retryable(ModelTimeout(f"{label} at {base} did not answer within {timeout_s:.2f}s")) from None
    except (ConnectionError, http.client.HTTPException, OSError) as exc:
        error = ModelServerError(f"{label} at {base} dropped the connection: {type(exc).__name__}: {exc}")
        raise Retryable(error) from None
    finally:
        conn.close()
    if status >= 400:
        detail = _error_detail(raw)
        message = f"{label} answered HTTP {status}" + (f": {detail}" if detail else "")
        if status in RETRY_STATUSES:
            failure: ModelError = ModelRateLimited(message) if status == 429 else ModelServerError(message)
            raise Retryable(failure, _seconds(retry_after))
        raise ModelServerError(message)
    try:
        data = json.loads(raw)
    except ValueError:
        raise ModelResponseError(f"{label} answered a body that is not JSON: {raw[:120]!r}") from None
    if not isinstance(data, dict):
        raise ModelResponseError(f"{label} answered JSON that is not an object: {raw[:120]!r}")
    return data


def _error_detail(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return raw[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        error = data.get("error", data.get("message", ""))
        if isinstance(error, dict):
            error = error.get("message", "")
        return str(error)[:200]
    return ""


def _seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
