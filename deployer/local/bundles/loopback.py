"""An HTTP server on 127.0.0.1 served from a daemon thread: the gateway and the control API."""

from __future__ import annotations

import threading
from typing import Any, Protocol


class ServesForever(Protocol):
    """What `socketserver` servers (the control API) and `http11.Http11Server` (the gateway) both have."""

    server_address: Any

    def serve_forever(self, poll_interval: float = 0.5) -> None: ...

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


class LoopbackServer:
    """Runs `server` in a daemon thread; `url` is where it listens."""

    def __init__(self, server: ServesForever, *, name: str) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name=name, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
