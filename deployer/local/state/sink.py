"""The telemetry sink: a child process that writes request records and metrics into moto.

boto3 is CPU-heavy (serialising a `BatchWriteItem` or a `PutMetricData` costs milliseconds of
Python), and in the gateway's process that time would be taken from requests through the GIL.
So the gateway only parses what alarms need (EMF datapoints into its in-memory store) and
forwards each request's raw log lines, batched every `interval`, to this process, which parses
them again and runs the `RequestRecorder` (moto DynamoDB) and the `CloudWatchMirror` (moto
CloudWatch).

Started as a child ``python`` process running `main`; talks to the gateway over a
`multiprocessing.connection` socket on 127.0.0.1; exits when the gateway closes it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from deployer.errors import DeployerError
from deployer.local.bundles.processes import accept, reap, spawn


class TelemetrySink:
    """Gateway side: buffers records and datapoints, ships them to the sink process."""

    def __init__(self, *, endpoint: str, region: str, table: str, ttl_days: int, log_path: Path | None = None,
                 interval_s: float = 0.1) -> None:
        self._args = {"endpoint": endpoint, "region": region, "table": table, "ttl_days": ttl_days}
        self._log_path = log_path
        self._interval = interval_s
        self._chunks: list[str] = []  # "#at <emulated ts>" then the request's raw log lines
        self._items: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._run, name="telemetry-sink", daemon=True)

    def start(self, timeout_s: float = 30.0) -> None:
        key = secrets.token_bytes(16)
        listener = Listener(("127.0.0.1", 0), authkey=key)
        host, port = listener.address
        env = {**os.environ, "DEPLOYER_SINK": json.dumps({**self._args, "host": host, "port": port, "key": key.hex()})}
        self._proc = spawn([sys.executable, "-c", "from deployer.local.state.sink import main; main()"], env=env,
                           log_path=self._log_path)
        accepted = accept(listener, 1, timeout_s=timeout_s)
        if not accepted:
            self.stop()
            raise DeployerError("the telemetry sink process did not start")
        self._conn = accepted[0]
        self._thread.start()

    def add_lines(self, at: float, lines: list[str]) -> None:
        """One request's raw log lines (records and EMF), stamped with the emulated time."""
        chunk = f"#at {at!r}\n" + "\n".join(lines)
        with self._lock:
            self._chunks.append(chunk)

    def add_item(self, item: dict[str, Any]) -> None:
        """A ready item for the table (deploy records); sent with the next batch."""
        with self._lock:
            self._items.append(item)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def flush(self, *, sync: bool = False) -> dict[str, Any] | None:
        with self._lock:
            chunks, self._chunks = self._chunks, []
            items, self._items = self._items, []
        conn = self._conn
        if conn is None or (not chunks and not items and not sync):
            return None
        head = json.dumps({"items": items, "sync": sync}, default=str)
        try:  # raw lines are forwarded as they are: the sink parses them, not the gateway's GIL
            conn.send_bytes(("\n".join([head, *chunks])).encode())
            if sync and conn.poll(60):
                return dict(json.loads(conn.recv_bytes()))
        except (OSError, EOFError, ValueError):
            return None
        return None

    def stats(self) -> dict[str, Any]:
        """Flush everything and wait until the sink has written it; returns its counters."""
        return self.flush(sync=True) or {}

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._conn is not None:
            self.flush(sync=True)
            self._conn.close()
            self._conn = None
        reap(self._proc, grace_s=10)


def main() -> None:
    from deployer.local.behaviour.logs import parse_line
    from deployer.local.behaviour.metrics import CloudWatchMirror, parse_emf
    from deployer.local.state.moto_state import client
    from deployer.local.state.recorder import RequestRecorder

    args = json.loads(os.environ["DEPLOYER_SINK"])
    conn = Client((args["host"], int(args["port"])), authkey=bytes.fromhex(args["key"]))
    recorder = RequestRecorder(client("dynamodb", args["endpoint"], args["region"]), args["table"],
                               int(args["ttl_days"]))
    mirror = CloudWatchMirror(client("cloudwatch", args["endpoint"], args["region"]))
    while True:
        try:
            data = conn.recv_bytes().decode()
        except (EOFError, OSError):
            break
        head, _, body = data.partition("\n")
        message = json.loads(head)
        for item in message.get("items", []):
            try:
                recorder.write_item(item)
            except Exception:
                recorder.errors += 1
        at = 0.0
        for line in body.split("\n"):
            if line.startswith("#at "):
                at = float(line[4:])
                continue
            obj = parse_line(line)
            if obj is None:
                continue
            points = parse_emf(obj)
            if points:
                for key, value, unit in points:
                    mirror.add(key, at, value, unit)
            else:
                recorder.add_line(obj)
        recorder.flush()
        mirror.flush()
        if message.get("sync"):
            conn.send_bytes(json.dumps({"written": recorder.written, "record_errors": recorder.errors,
                                        "metric_errors": mirror.errors}).encode())
    conn.close()


if __name__ == "__main__":
    main()
