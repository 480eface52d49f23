"""The benchmarks' baseline target (a helper, not a benchmark: `make bench` skips `_` files): a trivial HTTP/1.1 server.

One asyncio process, keep-alive, no parsing beyond finding each request's end; what is left when
a benchmark drives it is the machine and the client. `trivial_server(...)` runs it in its own
process and yields its port and pid (benchmarks account its CPU).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def trivial_server(body: bytes, *, headers: dict[str, str] | None = None, backlog: int = 1024,
                   lifetime_s: float = 600.0) -> Iterator[tuple[int, int]]:
    """Serve `body` (application/json, plus `headers`) on 127.0.0.1 for at most `lifetime_s`; yields (port, pid)."""
    settings = json.dumps({"body": body.decode(), "headers": headers or {}, "backlog": backlog,
                           "lifetime_s": lifetime_s})
    process = subprocess.Popen([sys.executable, __file__, settings], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline()), process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _serve(settings: dict[str, Any]) -> None:
    body = settings["body"].encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in settings["headers"].items())
    head = (f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}"
            f"content-length: {len(body)}\r\n\r\n").encode()

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport, self.buffer = transport, b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                length = 0
                for line in self.buffer[:end].lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if len(self.buffer) < end + 4 + length:
                    return
                self.buffer = self.buffer[end + 4 + length:]
                self.transport.write(head + body)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", 0, backlog=settings["backlog"])
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(settings["lifetime_s"])

    asyncio.run(main())


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
