"""The telemetry sink: a child process that keeps the request log and feeds moto, off the request path.

The gateway only parses what alarms need (EMF datapoints into its in-memory store) and forwards
each request's raw log lines, batched every `interval_s`, to this process. There each record goes
through `RequestLog` (the same rules as the AWS recorder, a journal on disk that survives a
restart) and each EMF datapoint through `CloudWatchMirror`; the batch's items and datums then
reach moto's backends through its bulk loader (`moto_server`), one local message per batch.

Nothing is lost for one bad record or one failure: a record that cannot be an item is quarantined
alone; a batch moto or the disk refused is kept and sent again with the next one; a sink process
that dies is started again and given what it had not taken (its journal tells it what it already
wrote). Each failure, and its end, reaches the emulator's `Health` (status, events.log).

Started as a child ``python`` process running `main`; talks to the gateway over a
`multiprocessing.connection` socket on 127.0.0.1 (one reply per batch); exits when it closes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from deployer.errors import DeployerError
from deployer.local.bundles.processes import accept, reap, spawn
from deployer.local.state.health import Health

#: Requests kept while no sink process takes them (it is being restarted); past that the oldest go.
MAX_BUFFERED = 200_000
#: What the sink process reports, and how `status` names it.
SINK_PARTS = {"request-log": "writing the request log journal", "moto-loader": "loading records into moto",
              "telemetry-batch": "taking a telemetry batch in the sink process"}


class TelemetrySink:
    """Gateway side: buffers each request's lines and ready items, ships them to the sink process."""

    def __init__(self, *, loader: tuple[str, int, bytes], account: str, region: str, table: str, ttl_days: int,
                 state_dir: Path, log_path: Path | None = None, health: Health | None = None,
                 request_log_limit: int | None = None, interval_s: float = 0.1) -> None:
        host, port, key = loader
        self._args = {"loader_host": host, "loader_port": port, "loader_key": key.hex(), "account": account,
                      "region": region, "table": table, "ttl_days": ttl_days, "state_dir": str(state_dir),
                      "limit": request_log_limit}
        self._log_path = log_path
        self._health = health
        self._interval = interval_s
        self._chunks: list[str] = []  # "#at <emulated ts>" then the request's raw log lines
        self._items: list[dict[str, Any]] = []
        self._backfill: list[dict[str, Any]] = []
        self._lock = threading.Lock()  # the buffers
        self._io = threading.Lock()  # the connection
        self._stop = threading.Event()
        self._conn: Connection | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._seq = 0
        self._spawned_at = 0.0
        self.lost = 0  # requests dropped because no sink process took them for too long
        self.last: dict[str, Any] = {}  # the sink's latest counters
        self._thread = threading.Thread(target=self._run, name="telemetry-sink", daemon=True)

    def start(self, timeout_s: float = 30.0) -> None:
        self._spawn(timeout_s)
        if self._conn is None:
            self.stop()
            raise DeployerError("the telemetry sink process did not start", hint=f"see {self._log_path}")
        self._thread.start()

    def _spawn(self, timeout_s: float = 30.0) -> None:
        self._spawned_at = time.monotonic()
        key = secrets.token_bytes(16)
        listener = Listener(("127.0.0.1", 0), authkey=key)
        host, port = listener.address
        env = {**os.environ, "DEPLOYER_SINK": json.dumps({**self._args, "host": host, "port": port, "key": key.hex()})}
        self._proc = spawn([sys.executable, "-c", "from deployer.local.state.sink import main; main()"], env=env,
                           log_path=self._log_path)
        accepted = accept(listener, 1, timeout_s=timeout_s)
        self._conn = accepted[0] if accepted else None

    def add_lines(self, at: float, lines: list[str]) -> None:
        """One request's raw log lines (records and EMF), stamped with the emulated time."""
        chunk = f"#at {at!r}\n" + "\n".join(lines)
        with self._lock:
            self._chunks.append(chunk)

    def add_item(self, item: dict[str, Any], *, unless_kept: bool = False) -> None:
        """A ready item for the table (deploy records); sent with the next batch. With `unless_kept`
        it is written only when the request log has no item under its key (a restart's backfill)."""
        with self._lock:
            (self._backfill if unless_kept else self._items).append(item)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.flush()
            except Exception as exc:  # never let the flush loop die: say so, go on
                self._failed("telemetry", "shipping telemetry to the sink process", exc)

    def flush(self, *, sync: bool = False, query: dict[str, Any] | None = None,
              timeout_s: float = 60.0) -> dict[str, Any] | None:
        """Send what is buffered; with `sync` (or a `query`) wait for the sink's reply to it."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
            items, self._items = self._items, []
            backfill, self._backfill = self._backfill, []
        wait = sync or query is not None
        with self._io:
            if not chunks and not items and not backfill and not wait:
                self._drain(None, 0)
                return None
            conn = self._connection()
            if conn is None:
                self._keep(chunks, items, backfill)
                return None
            self._seq += 1
            head = json.dumps({"seq": self._seq, "items": items, "backfill": backfill, "query": query}, default=str)
            try:  # raw lines as they are: the sink parses them, not the gateway's GIL
                conn.send_bytes("\n".join([head, *chunks]).encode("utf-8", "surrogatepass"))
            except (OSError, EOFError, ValueError) as exc:
                self._keep(chunks, items, backfill)
                self._lose_process(exc)
                return None
            return self._drain(self._seq if wait else None, timeout_s if wait else 0)

    def _drain(self, seq: int | None, timeout_s: float) -> dict[str, Any] | None:
        """Read the sink's replies that arrived (noting its counters and problems); wait for `seq`'s."""
        conn = self._conn
        if conn is None:
            return None
        deadline = time.monotonic() + timeout_s
        try:
            while conn.poll(max(0.0, deadline - time.monotonic())):
                reply = json.loads(conn.recv_bytes())
                self._note(reply)
                if seq is not None and reply.get("seq") == seq:
                    return dict(reply)
        except (OSError, EOFError, ValueError) as exc:
            self._lose_process(exc)
        return None

    def _note(self, reply: dict[str, Any]) -> None:
        self.last = reply.get("stats") or self.last
        problems = reply.get("problems") or {}
        for part, what in SINK_PARTS.items():
            if part in problems:
                self._failed(part, what, problems[part])
            elif self._health is not None:
                self._health.ok(part)

    def _connection(self) -> Connection | None:
        """The sink process's connection; a dead process is started again (at most once a second)."""
        if self._conn is not None and self._proc is not None and self._proc.poll() is None:
            return self._conn
        if self._conn is not None:
            self._lose_process(f"the sink process exited with code {self._proc.poll() if self._proc else '?'}")
        if self._stop.is_set() or time.monotonic() - self._spawned_at < 1.0:
            return None
        self._spawn()
        if self._conn is not None and self._health is not None:
            self._health.ok("telemetry")
        return self._conn

    def _lose_process(self, why: BaseException | str) -> None:
        self._failed("telemetry", "the telemetry sink process", why)
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        reap(self._proc, grace_s=0)

    def _keep(self, chunks: list[str], items: list[dict[str, Any]], backfill: list[dict[str, Any]]) -> None:
        """Put back what no sink process took, before what came since (bounded)."""
        with self._lock:
            self._chunks[:0] = chunks
            self._items[:0] = items
            self._backfill[:0] = backfill
            excess = len(self._chunks) - MAX_BUFFERED
            if excess > 0:
                del self._chunks[:excess]
                self.lost += excess
        if self.lost:
            self._failed("telemetry", "the telemetry sink process", f"{self.lost} requests' records lost while "
                         "no sink process took them")

    def _failed(self, part: str, what: str, error: BaseException | str) -> None:
        if self._health is not None:
            self._health.failed(part, what, error)

    def stats(self) -> dict[str, Any]:
        """Flush everything and wait until the sink has written it; returns its counters."""
        reply = self.flush(sync=True)
        return dict(reply["stats"]) if reply else {}

    def why_missing(self, request_id: str) -> str | None:
        """Why the request log has no record `request_id` (None when it has one); the sink answers."""
        reply = self.flush(query={"why": request_id})
        if reply is None:
            raise DeployerError("the telemetry sink did not answer", hint=f"see {self._log_path}")
        return reply.get("answer")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._conn is not None:
            self.flush(sync=True)
            with self._io:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
        reap(self._proc, grace_s=10)


class _MotoLoader:
    """The sink's side of moto's bulk loader: one message per batch; what failed is kept (by the
    caller) and the connection made again for the next batch."""

    def __init__(self, args: dict[str, Any]) -> None:
        self._address = (args["loader_host"], int(args["loader_port"]))
        self._key = bytes.fromhex(args["loader_key"])
        self._base = {"account": args["account"], "region": args["region"], "table": args["table"]}
        self._conn: Connection | None = None
        self.error: str | None = None

    def load(self, puts: list[Any], deletes: list[Any], metrics: dict[str, list[Any]]) -> bool:
        if not puts and not deletes and not metrics:
            return True
        try:
            if self._conn is None:
                self._conn = Client(self._address, authkey=self._key)
            self._conn.send({**self._base, "put": puts, "delete": deletes, "metrics": metrics})
            reply = self._conn.recv()
        except (OSError, EOFError) as exc:
            self.error = f"moto's loader does not answer: {exc}"
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            return False
        errors = reply.get("errors") or []
        self.error = f"{reply.get('error_count')} refused, e.g. {errors[0]}" if errors else None
        return not errors


class _Batches:
    """The sink process's work on each batch: records to the request log, datapoints to the mirror, both to moto."""

    def __init__(self, args: dict[str, Any]) -> None:
        from deployer.local.behaviour.metrics import CloudWatchMirror
        from deployer.local.state.request_log import DIRECTORY, RequestLog

        self.log = RequestLog(Path(args["state_dir"]) / DIRECTORY, ttl_days=int(args["ttl_days"]),
                              limit=args.get("limit"))
        self.loader = _MotoLoader(args)
        self.mirror = CloudWatchMirror()
        self.error: str | None = None

    def restore(self) -> None:
        """A restart: what the journal kept goes back into moto first."""
        for chunk in self.log.load():
            if not self.loader.load(chunk, [], {}):
                self.log.requeue(chunk, [])

    def take(self, message: dict[str, Any], body: str) -> None:
        from deployer.local.behaviour.logs import parse_line
        from deployer.local.behaviour.metrics import parse_emf
        from handlers.records import REQUEST_EVENT

        log = self.log
        for item in message.get("items") or ():
            log.add_item(item)
        for item in message.get("backfill") or ():
            log.add_item(item, unless_kept=True)
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
                    self.mirror.add(key, at, value, unit)
            elif obj.get("event") == REQUEST_EVENT:
                log.add_record(obj)
        self.flush()

    def flush(self) -> None:
        self.log.persist()  # on disk first; records the bound drops go out of moto in the same batch
        puts, deletes = self.log.take()
        if not self.loader.load(puts, deletes, self.mirror.take()):
            self.log.requeue(puts, deletes)

    def reply(self, message: dict[str, Any]) -> dict[str, Any]:
        problems = {part: error for part, error in (("request-log", self.log.journal_error),
                                                    ("moto-loader", self.loader.error),
                                                    ("telemetry-batch", self.error)) if error}
        reply: dict[str, Any] = {"seq": message.get("seq"), "stats": self.log.stats(), "problems": problems}
        query = message.get("query") or {}
        if "why" in query:
            reply["answer"] = self.log.why_missing(str(query["why"]))
        return reply


def main() -> None:
    args = json.loads(os.environ["DEPLOYER_SINK"])
    conn = Client((args["host"], int(args["port"])), authkey=bytes.fromhex(args["key"]))
    batches = _Batches(args)
    batches.restore()
    while True:
        try:
            data = conn.recv_bytes().decode("utf-8", "surrogatepass")
        except (EOFError, OSError):
            break
        head, _, body = data.partition("\n")
        message: dict[str, Any] = {}
        try:
            message = json.loads(head)
            batches.take(message, body)
            batches.error = None
        except Exception as exc:  # a batch this process cannot take: said, and the next one is taken
            batches.error = f"a batch was not taken: {type(exc).__name__}: {exc}"
        conn.send_bytes(json.dumps(batches.reply(message), default=str).encode())
    batches.flush()
    conn.close()


if __name__ == "__main__":
    main()
