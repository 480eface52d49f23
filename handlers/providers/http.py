"""A small JSON-over-HTTP client (stdlib `http.client`, imported on first use).

Connections are kept alive per thread and per server, so a warm Lambda does not pay a TCP (and
TLS) handshake on every model call. A kept-alive connection the server has meanwhile closed is
replaced once, transparently; any other failure drops the connection.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
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
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelUnavailable(f"{label} endpoint {url!r} is not an http(s) URL; {hint}")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    body = json.dumps(payload).encode()
    all_headers = {"content-type": "application/json", "accept": "application/json", **(headers or {})}
    key = (parts.scheme, parts.hostname, parts.port)
    try:
        status, raw, retry_after = _exchange(key, path, body, all_headers, max(timeout_s, 0.001))
    except ConnectionRefusedError:
        raise ModelUnavailable(f"{label} at {base} is not reachable: connection refused; {hint}") from None
    except socket.gaierror as exc:
        raise ModelUnavailable(f"{label} at {base} is not reachable: {exc.strerror or exc}; {hint}") from None
    except TimeoutError:
        raise Retryable(ModelTimeout(f"{label} at {base} did not answer within {timeout_s:.2f}s")) from None
    except (ConnectionError, http.client.HTTPException, OSError) as exc:
        error = ModelServerError(f"{label} at {base} dropped the connection: {type(exc).__name__}: {exc}")
        raise Retryable(error) from None
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


_local = threading.local()
#: What a kept-alive connection closed by the server looks like on the next request.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, http.client.CannotSendRequest)


def _exchange(
    key: tuple[str, str, int | None], path: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> tuple[int, bytes, str | None]:
    pool: dict[tuple[str, str, int | None], http.client.HTTPConnection] = _local.__dict__.setdefault("pool", {})
    conn = pool.pop(key, None)
    reused = conn is not None
    while True:
        if conn is None:
            scheme, host, port = key
            conn_type = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = conn_type(host, port, timeout=timeout_s)
        else:
            conn.timeout = timeout_s
            if conn.sock is not None:
                conn.sock.settimeout(timeout_s)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except _STALE:
            conn.close()
            if not reused:
                raise
            conn, reused = None, False  # the server closed it while idle: once more, on a new one
            continue
        except BaseException:  # timeouts, interrupted by the action's deadline, ...: never reuse
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            pool[key] = conn
        return response.status, raw, response.getheader("retry-after")


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
