"""The telemetry sink: a child process that writes request records and metrics into moto.

boto3 is CPU-heavy (serialising a `BatchWriteItem` or a `PutMetricData` costs milliseconds of
Python), and in the gateway's process that time would be taken from requests through the GIL.
So the gateway only parses what alarms need (EMF datapoints into its in-memory store) and hands
request records and datapoints, batched every `interval`, to this process, which runs the
`RequestRecorder` (moto DynamoDB) and the `CloudWatchMirror` (moto CloudWatch).

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
from deployer.local.metrics import MetricKey


class TelemetrySink:
    """Gateway side: buffers records and datapoints, ships them to the sink process."""

    def __init__(self, *, endpoint: str, region: str, table: str, ttl_days: int, log_path: Path | None = None,
                 interval_s: float = 0.25) -> None:
        self._args = {"endpoint": endpoint, "region": region, "table": table, "ttl_days": ttl_days}
        self._log_path = log_path
        self._interval = interval_s
        self._records: list[dict[str, Any]] = []
        self._points: list[tuple[str, str, tuple[tuple[str, str], ...], float, float, str]] = []
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
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen([sys.executable, "-c", "from deployer.local.sink import main; main()"], env=env,
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        accepted: list[Connection] = []
        acceptor = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
        acceptor.start()
        acceptor.join(timeout_s)
        listener.close()
        if not accepted:
            self.stop()
            raise DeployerError("the telemetry sink process did not start")
        self._conn = accepted[0]
        self._thread.start()

    def add_record(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._records.append(record)

    def add_point(self, key: MetricKey, ts: float, value: float, unit: str) -> None:
        with self._lock:
            self._points.append((key.namespace, key.name, key.dimensions, ts, value, unit))

    def add_item(self, item: dict[str, Any]) -> None:
        """A ready item for the table (deploy records); sent with the next batch."""
        with self._lock:
            self._records.append({"__item__": item})

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def flush(self, *, sync: bool = False) -> dict[str, Any] | None:
        with self._lock:
            records, self._records = self._records, []
            points, self._points = self._points, []
        conn = self._conn
        if conn is None or (not records and not points and not sync):
            return None
        try:
            conn.send_bytes(json.dumps({"records": records, "points": points, "sync": sync}, default=str).encode())
            if sync and conn.poll(30):
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
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def main() -> None:
    from deployer.local.metrics import CloudWatchMirror
    from deployer.local.moto_state import client
    from deployer.local.recorder import RequestRecorder

    args = json.loads(os.environ["DEPLOYER_SINK"])
    conn = Client((args["host"], int(args["port"])), authkey=bytes.fromhex(args["key"]))
    recorder = RequestRecorder(client("dynamodb", args["endpoint"], args["region"]), args["table"],
                               int(args["ttl_days"]))
    mirror = CloudWatchMirror(client("cloudwatch", args["endpoint"], args["region"]))
    while True:
        try:
            message = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            break
        items = []
        for record in message.get("records", []):
            if "__item__" in record:
                items.append(record["__item__"])
            else:
                recorder.add_line(record)
        for item in items:
            try:
                recorder.write_item(item)
            except Exception:
                recorder.errors += 1
        for namespace, name, dims, ts, value, unit in message.get("points", []):
            mirror.add(MetricKey(namespace, name, tuple((str(k), str(v)) for k, v in dims)), ts, value, unit)
        recorder.flush()
        mirror.flush()
        if message.get("sync"):
            conn.send_bytes(json.dumps({"written": recorder.written, "record_errors": recorder.errors,
                                        "metric_errors": mirror.errors}).encode())
    conn.close()


if __name__ == "__main__":
    main()
