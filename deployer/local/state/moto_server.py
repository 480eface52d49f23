"""The emulator's moto process: moto's server on 127.0.0.1, and a bulk loader beside it.

Run by path (`python moto_server.py <port>`, imports nothing from `deployer`). It serves moto's
HTTP API, as `ThreadedMotoServer` does, and a `multiprocessing.connection` listener (key in
`$DEPLOYER_MOTO_LOADER_KEY`) through which the telemetry sink hands over request-log items and
metric datapoints in bulk: they go into the same moto backends the HTTP API serves (DynamoDB
`put_item` / `delete_item`, CloudWatch `put_metric_data`), without an HTTP round trip, boto3's
serialisation or moto's request parsing per batch. Whoever reads them (boto3 over HTTP) sees what
`BatchWriteItem` and `PutMetricData` would have written; the sink has already made every item one
DynamoDB would accept (`handlers.recorder.prepare_item`).

One lock covers every HTTP request and every bulk load, so a reader never sees a table change
under its scan. The first line of output is `<http port> <loader port>`. The process exits when
its stdin closes (that is, with the emulator).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection, Listener
from typing import Any

LOADER_KEY_ENV = "DEPLOYER_MOTO_LOADER_KEY"


def apply(message: dict[str, Any]) -> dict[str, Any]:
    """One bulk message: {"account", "region", "table", "put": [items], "delete": [keys],
    "metrics": {namespace: [datums]}} -> {"put", "deleted", "errors"}."""
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.dynamodb.models import dynamodb_backends

    account, region = message["account"], message["region"]
    errors: list[str] = []
    put = deleted = 0
    if message.get("put") or message.get("delete"):
        dynamodb = dynamodb_backends[account][region]
        table = message["table"]
        for item in message.get("put") or ():
            try:
                dynamodb.put_item(table, item)
                put += 1
            except Exception as exc:  # the table is missing, or moto refuses it: the sink keeps it
                errors.append(f"put {next(iter(item.get('request_id', {}).values()), '?')}: {type(exc).__name__}: {exc}")
        for key in message.get("delete") or ():
            try:
                dynamodb.delete_item(table, key)
                deleted += 1
            except Exception as exc:
                errors.append(f"delete: {type(exc).__name__}: {exc}")
    for namespace, datums in (message.get("metrics") or {}).items():
        try:
            cloudwatch_backends[account][region].put_metric_data(namespace, datums)
        except Exception as exc:
            errors.append(f"metrics {namespace}: {type(exc).__name__}: {exc}")
    return {"put": put, "deleted": deleted, "errors": errors[:20], "error_count": len(errors)}


def _serve(conn: Connection, lock: threading.RLock) -> None:
    with conn:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                return
            try:
                with lock:
                    reply = apply(message)
            except Exception as exc:  # a message it cannot read: say so, keep serving
                reply = {"put": 0, "deleted": 0, "errors": [f"{type(exc).__name__}: {exc}"], "error_count": 1}
            try:
                conn.send(reply)
            except OSError:
                return


def _accept(listener: Listener, lock: threading.RLock) -> None:
    while True:
        try:
            conn = listener.accept()
        except OSError:
            return
        threading.Thread(target=_serve, args=(conn, lock), name="moto-loader", daemon=True).start()


def locked(app: Callable[..., Iterable[bytes]], lock: threading.RLock) -> Callable[..., list[bytes]]:
    """A WSGI app that serves one request at a time with the loader."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    return serve


def main() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    port = int(sys.argv[1])
    key = bytes.fromhex(os.environ.pop(LOADER_KEY_ENV))
    lock = threading.RLock()
    server = make_server("127.0.0.1", port, locked(DomainDispatcherApplication(create_backend_app), lock),
                         threaded=True, request_handler=MotoRequestHandler)
    listener = Listener(("127.0.0.1", 0), authkey=key)
    threading.Thread(target=server.serve_forever, name="moto-http", daemon=True).start()
    threading.Thread(target=_accept, args=(listener, lock), name="moto-loader-accept", daemon=True).start()
    print(server.server_address[1], listener.address[1], flush=True)
    sys.stdin.read()
    listener.close()
    server.shutdown()


if __name__ == "__main__":
    main()
