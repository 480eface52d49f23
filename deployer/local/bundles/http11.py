"""An HTTP/1.1 server on h11 for the gateway: framing done by a well-kept parser, limits enforced here.

h11 (the sans-I/O HTTP/1.1 state machine behind httpx and hypercorn) parses and frames every
request: a negative, non-numeric or conflicting `Content-Length`, an unknown `Transfer-Encoding`,
a malformed request line or header are protocol errors it reports, and chunked bodies are decoded
by it. This module adds the I/O (a thread per connection, as `ThreadingHTTPServer` had), writes
the responses itself (from headers the gateway has validated) and enforces the limits a public
endpoint needs (`HttpLimits`):

- head (request line + headers) at most `max_head_bytes`, at most `max_headers` headers: 431;
- HTTP/1.0 and HTTP/1.1 only: 505;
- body at most `max_body_bytes` (a Function URL's 6 MB request payload), by `Content-Length` before
  reading it, or while a chunked body streams in: 413;
- a request must arrive whole within `read_timeout_s` of its first byte (slowloris, a short body
  under a large `Content-Length`): 408; a keep-alive connection idle for `idle_timeout_s` is closed;
  a client that does not read its response within `write_timeout_s` is dropped;
- at most `max_connections` open connections: past it a new one is closed at once;
- anything else malformed: 400, or the status h11 suggests (501 for an unsupported transfer coding).

Each of these answers comes from `app.reject(status, message, head)`, so the gateway can record it
like any other failure; a complete request goes to `app.handle(request)`. A connection that sends
nothing, or only closes, gets nothing back, as from any HTTP server.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import h11

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 6 * 1024 * 1024  # a Function URL's request payload limit (6 MB)


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int = MAX_BODY_BYTES
    max_head_bytes: int = 16 * 1024
    max_headers: int = 100
    read_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    write_timeout_s: float = 10.0
    max_connections: int = 1024


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    body: bytes
    peer: str
    http_version: str = "1.1"


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class HttpApp(Protocol):
    def handle(self, request: HttpRequest) -> HttpResponse: ...

    def reject(self, status: int, message: str, request: HttpRequest | None) -> HttpResponse: ...


class _Timeout(Exception):
    """The client took too long: `started` says whether a request was under way."""

    def __init__(self, started: bool) -> None:
        super().__init__()
        self.started = started


class _Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _headers(pairs: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


class _Connection:
    """One client connection: requests in turn, each read under a deadline, answered, until it closes.

    Each request is parsed by a fresh h11 state machine (about 1 us to make) fed with what the
    previous one left unread (a pipelined request); the response is written here, from headers the
    gateway has validated: h11's response writer validates every header again and costs as much as
    the rest of the gateway's HTTP handling.
    """

    def __init__(self, sock: socket.socket, peer: str, app: HttpApp, limits: HttpLimits) -> None:
        self.sock = sock
        self.peer = peer
        self.app = app
        self.limits = limits
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head_bytes)
        self._unread = b""
        self._deadline: float | None = None

    def serve(self) -> None:
        while True:
            head: HttpRequest | None = None
            self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_head_bytes)
            if self._unread:
                self.h11.receive_data(self._unread)
            try:
                head = self._read_head()
                if head is None:
                    return
                head.body = self._read_body(head)
                try:
                    response = self.app.handle(head)
                except Exception as exc:  # a bug in the emulator: answered and recorded, the server goes on
                    log.exception("gateway: the request could not be handled")
                    response = self.app.reject(502, f"the emulator failed: {type(exc).__name__}: {exc}", head)
            except _Timeout as timeout:
                if timeout.started:
                    self._send(self.app.reject(408, "the request did not arrive within "
                                               f"{self.limits.read_timeout_s:g} s", head), close=True)
                return
            except _Rejected as rejected:
                self._send(self.app.reject(rejected.status, rejected.message, head), close=True)
                return
            except h11.RemoteProtocolError as exc:
                self._send(self.app.reject(exc.error_status_hint, f"malformed request: {exc}", head), close=True)
                return
            self._unread, closed = self.h11.trailing_data
            connection = head.headers.get("connection", "").lower()
            keep_alive = head.http_version == "1.1" and "close" not in connection and not closed
            if not self._send(response, close=not keep_alive, head_only=head.method == "HEAD") or not keep_alive:
                return

    def _next_event(self, deadline: float | None, started: bool) -> object:
        conn = self.h11
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if deadline is None:  # between requests: wait for the first byte of the next one
                timeout = self.limits.idle_timeout_s
            else:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    raise _Timeout(started)
            self.sock.settimeout(timeout)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                raise _Timeout(started) from None
            except OSError:
                data = b""
            if not data and deadline is None and not conn.trailing_data[0]:
                return h11.ConnectionClosed()  # closed between requests: nothing to answer
            conn.receive_data(data)
            if deadline is None:
                deadline = time.monotonic() + self.limits.read_timeout_s
                self._deadline = deadline
                started = True

    def _read_head(self) -> HttpRequest | None:
        pending = bool(self._unread)  # a pipelined request already buffered
        deadline = time.monotonic() + self.limits.read_timeout_s if pending else None
        self._deadline = deadline
        event = self._next_event(deadline, pending)
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):
            raise h11.RemoteProtocolError("expected a request", error_status_hint=400)
        if len(event.headers) > self.limits.max_headers:
            raise _Rejected(431, f"more than {self.limits.max_headers} request headers")
        # h11 bounds a head only while it is incomplete: one that arrived whole is measured here
        if len(event.target) + sum(len(n) + len(v) + 4 for n, v in event.headers) > self.limits.max_head_bytes:
            raise _Rejected(431, f"request line and headers over {self.limits.max_head_bytes} bytes")
        if event.http_version not in (b"1.0", b"1.1"):
            raise _Rejected(505, f"HTTP/{event.http_version.decode('latin-1')} is not supported: use HTTP/1.1")
        request = HttpRequest(event.method.decode("latin-1"), event.target.decode("latin-1"), _headers(event.headers),
                              b"", self.peer, event.http_version.decode("latin-1"))
        length = request.headers.get("content-length")
        if length is not None and "transfer-encoding" not in request.headers and int(length) > self.limits.max_body_bytes:
            raise _Rejected(413, _too_large(self.limits))
        return request

    def _read_body(self, request: HttpRequest) -> bytes:
        deadline = time.monotonic() + self.limits.read_timeout_s if self._deadline is None else self._deadline
        parts: list[bytes] = []
        size = 0
        if self.h11.client_is_waiting_for_100_continue:  # curl asks before sending a body over 1 KB
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while True:
            event = self._next_event(deadline, True)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.limits.max_body_bytes:
                    raise _Rejected(413, _too_large(self.limits))
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the client closed the connection mid-request", error_status_hint=400)

    def _send(self, response: HttpResponse, *, close: bool, head_only: bool = False) -> bool:
        """Write the response (headers as given: the app validates them); False when the client is gone.

        The answer to a HEAD request has the headers of the full answer and no body (RFC 9110 9.3.2)."""
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in response.headers if k not in _FRAMING]
        lines.append(f"content-length: {len(response.body)}")
        if close:
            lines.append("connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return self._write(head if head_only else head + response.body)

    def _write(self, data: bytes) -> bool:
        try:
            self.sock.settimeout(self.limits.write_timeout_s)
            self.sock.sendall(data)
        except OSError:
            return False
        return True


def _too_large(limits: HttpLimits) -> str:
    return f"Request must be smaller than {limits.max_body_bytes} bytes for the InvokeFunctionUrl operation"


_FRAMING = frozenset({"content-length", "connection", "transfer-encoding"})
_REASONS = {100: "Continue", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 409: "Conflict", 413: "Content Too Large", 415: "Unsupported Media Type",
            422: "Unprocessable Content", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 505: "HTTP Version Not Supported"}


class Http11Server:
    """Listens on 127.0.0.1; a thread per connection. `serve_forever`/`shutdown` as `socketserver` has them."""

    def __init__(self, address: tuple[str, int], app: HttpApp, limits: HttpLimits | None = None) -> None:
        self.app = app
        self.limits = limits or HttpLimits()
        self._listener = socket.create_server(address, backlog=1024)
        self.server_address = self._listener.getsockname()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._done = threading.Event()
        self._running = False

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._open)

    def serve_forever(self, poll_interval: float = 0.2) -> None:
        self._running = True
        self._listener.settimeout(poll_interval)
        try:
            while not self._closed.is_set():
                try:
                    sock, address = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._closed.is_set():
                        break
                    time.sleep(0.01)  # out of descriptors: let connections end
                    continue
                with self._lock:
                    full = len(self._open) >= self.limits.max_connections
                    if not full:
                        self._open.add(sock)
                if full:
                    with contextlib.suppress(OSError):
                        sock.close()
                    continue
                threading.Thread(target=self._serve, args=(sock, str(address[0])), name="gateway-connection",
                                 daemon=True).start()
        finally:
            self._done.set()

    def _serve(self, sock: socket.socket, peer: str) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            _Connection(sock, peer, self.app, self.limits).serve()
        except Exception:  # a bug here must not take the server down: logged, the client sees a reset
            log.exception("gateway: connection from %s failed", peer)
        finally:
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.close()

    def shutdown(self) -> None:
        self._closed.set()
        if self._running:
            self._done.wait(timeout=5)

    def server_close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
