"""Real local HTTP servers speaking the Ollama and OpenAI chat wire protocols, for tests.

Each runs a `ThreadingHTTPServer` on 127.0.0.1 (a free port) in a daemon thread. By default it
answers every chat request with `reply(messages, request)` (default: echo the last user message);
`script(...)` queues one-off behaviours for the next requests, in order::

    with OllamaServer(models=("llama3.2",)) as server:
        server.script(Status(429, retry_after=0), Slow(0.5), Malformed(b"{not json"))
        ...  # point model.endpoint at server.url
        server.requests  # every request received: path, headers, parsed JSON body

Ollama: `POST /api/chat` (non-streaming) with `prompt_eval_count`/`eval_count`, `GET /api/tags`,
`GET /` ("Ollama is running"); an unknown model gets Ollama's 404. Connections are kept alive
(HTTP/1.1); `Hangup()` closes one without answering. OpenAI: `POST /v1/chat/completions`
with `usage`, optional `logprobs`; a wrong bearer token gets OpenAI's 401.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[list[dict[str, Any]], dict[str, Any]], str]


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status and an error body (in the server's own error format)."""

    code: int
    message: str = "scripted failure"
    retry_after: float | None = None


@dataclass(frozen=True)
class Slow:
    """Sleep this long, then answer normally (a client with a shorter timeout gives up)."""

    seconds: float


@dataclass(frozen=True)
class Malformed:
    """Answer 200 with this raw body."""

    body: bytes = b'{"unexpected": "shape"'


@dataclass(frozen=True)
class Text:
    """Answer normally with this content instead of `reply(...)`."""

    content: str
    logprobs: tuple[float, ...] = ()


@dataclass(frozen=True)
class Hangup:
    """Close the connection without answering (what a server's idle timeout looks like)."""


Behaviour = Status | Slow | Malformed | Text | Hangup


def echo_reply(messages: list[dict[str, Any]], request: dict[str, Any]) -> str:
    user = [m for m in messages if m.get("role") == "user"]
    content = user[-1].get("content", "") if user else ""
    return content if isinstance(content, str) else json.dumps(content)


def count_tokens(text: str) -> int:
    return max(1, len(str(text).split()))


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    client_port: int = 0  # the same port on two requests = one kept-alive connection


@dataclass
class _State:
    reply: Reply
    queue: deque[Behaviour] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _ChatServer:
    kind = "chat"

    def __init__(self, reply: Reply | None = None) -> None:
        self.state = _State(reply=reply or echo_reply)
        self._connections: set[Any] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with server.state.lock:
                    server._connections.add(self.connection)

            def do_GET(self) -> None:
                server._record(self, None)
                status, body = server.handle_get(self.path)
                self._send(status, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    data = json.loads(raw) if raw else {}
                except ValueError:
                    data = None
                server._record(self, data)
                with server.state.lock:
                    behaviour = server.state.queue.popleft() if server.state.queue else None
                if isinstance(behaviour, Hangup):
                    self.close_connection = True
                    return
                if isinstance(behaviour, Slow):
                    time.sleep(behaviour.seconds)
                    behaviour = None
                if isinstance(behaviour, Malformed):
                    self._send(200, behaviour.body)
                    return
                if isinstance(behaviour, Status):
                    headers = {} if behaviour.retry_after is None else {"retry-after": str(behaviour.retry_after)}
                    self._send(behaviour.code, server.error_body(behaviour.code, behaviour.message), headers)
                    return
                if not isinstance(data, dict):
                    self._send(400, server.error_body(400, "invalid JSON body"))
                    return
                status, body = server.handle_post(self.path, dict(self.headers.items()), data, behaviour)
                self._send(status, body)

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"{self.kind}-server", daemon=True)

    # -- control ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> list[Received]:
        with self.state.lock:
            return list(self.state.requests)

    def script(self, *behaviours: Behaviour) -> None:
        with self.state.lock:
            self.state.queue.extend(behaviours)

    def start(self) -> _ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and drop every open (kept-alive) connection, as a killed server would."""
        import socket

        self._httpd.shutdown()
        self._httpd.server_close()
        with self.state.lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            except OSError:
                pass

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        with self.state.lock:
            self.state.requests.append(
                Received(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body,
                         int(handler.client_address[1]))
            )

    # -- protocol (subclasses) -------------------------------------------------------------

    def handle_get(self, path: str) -> tuple[int, Any]:
        return 404, self.error_body(404, "not found")

    def handle_post(self, path: str, headers: dict[str, str], data: dict[str, Any], scripted: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}


class OllamaServer(_ChatServer):
    """Ollama's HTTP API: `/api/chat` (stream=false), `/api/tags`, `/`."""

    kind = "ollama"

    def __init__(self, reply: Reply | None = None, *, models: tuple[str, ...] = ("llama3.2",)) -> None:
        super().__init__(reply)
        self.models = models

    def handle_get(self, path: str) -> tuple[int, Any]:
        if path == "/":
            return 200, b"Ollama is running"
        if path == "/api/tags":
            return 200, {"models": [{"name": f"{m}:latest", "model": f"{m}:latest"} for m in self.models]}
        return 404, b"404 page not found"

    def handle_post(self, path: str, headers: dict[str, str], data: dict[str, Any], scripted: Any) -> tuple[int, Any]:
        if path != "/api/chat":
            return 404, b"404 page not found"
        model = str(data.get("model", ""))
        if model.split(":")[0] not in self.models:
            return 404, {"error": f'model "{model}" not found, try pulling it first'}
        messages = data.get("messages") or []
        content = scripted.content if isinstance(scripted, Text) else self.state.reply(messages, data)
        prompt = " ".join(str(m.get("content", "")) for m in messages)
        return 200, {
            "model": model,
            "created_at": "2026-01-01T00:00:00.000000Z",
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "load_duration": 100_000,
            "prompt_eval_count": count_tokens(prompt),
            "prompt_eval_duration": 200_000,
            "eval_count": count_tokens(content),
            "eval_duration": 700_000,
        }


class OpenAIServer(_ChatServer):
    """OpenAI's chat completions API under `/v1`."""

    kind = "openai"

    def __init__(self, reply: Reply | None = None, *, api_key: str | None = None) -> None:
        super().__init__(reply)
        self.api_key = api_key

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def error_body(self, status: int, message: str) -> Any:
        kind = "rate_limit_exceeded" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "code": None}}

    def handle_post(self, path: str, headers: dict[str, str], data: dict[str, Any], scripted: Any) -> tuple[int, Any]:
        if path != "/v1/chat/completions":
            return 404, self.error_body(404, f"Unknown request URL: POST {path}")
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return 401, self.error_body(401, "Incorrect API key provided")
        messages = data.get("messages") or []
        content = scripted.content if isinstance(scripted, Text) else self.state.reply(messages, data)
        prompt = " ".join(str(m.get("content", "")) for m in messages)
        choice: dict[str, Any] = {
            "index": 0, "message": {"role": "assistant", "content": content}, "logprobs": None, "finish_reason": "stop",
        }
        if data.get("logprobs"):
            values = scripted.logprobs if isinstance(scripted, Text) and scripted.logprobs else (-0.1,)
            choice["logprobs"] = {"content": [{"token": "t", "logprob": v, "top_logprobs": []} for v in values]}
        return 200, {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": data.get("model"),
            "choices": [choice],
            "usage": {"prompt_tokens": count_tokens(prompt), "completion_tokens": count_tokens(content),
                      "total_tokens": count_tokens(prompt) + count_tokens(content)},
        }
