"""A real moto server on 127.0.0.1 for tests that talk to "AWS" over HTTP, as boto3 would."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def moto_server(*, account: str | None = None, config: dict[str, Any] | None = None) -> Iterator[str]:
    """Start a ThreadedMotoServer on a free loopback port; yield its URL; stop it.

    `account` sets MOTO_ACCOUNT_ID for the server's lifetime; `config` goes to moto's
    `/moto-api/config` (e.g. `{"lambda": {"use_docker": False}}`: invoke echoes the payload).
    """
    from moto.server import ThreadedMotoServer

    saved = os.environ.get("MOTO_ACCOUNT_ID")
    if account is not None:
        os.environ["MOTO_ACCOUNT_ID"] = account
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        if config:
            request = urllib.request.Request(f"{url}/moto-api/config", data=json.dumps(config).encode(), method="POST",
                                             headers={"content-type": "application/json"})
            urllib.request.urlopen(request, timeout=10).read()
        yield url
    finally:
        server.stop()
        if account is not None:
            if saved is None:
                os.environ.pop("MOTO_ACCOUNT_ID", None)
            else:
                os.environ["MOTO_ACCOUNT_ID"] = saved
