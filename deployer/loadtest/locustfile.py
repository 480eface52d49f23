"""The locust side of `deployer loadtest`. Runs only inside a locust process (`python -m locust`).

Settings come from the JSON file named by ``DEPLOYER_LOADTEST_SETTINGS``. Each worker process
(``DEPLOYER_LOADTEST_WORKER`` = its index) holds `rps / workers` requests per second: its users
take the next slot of one shared schedule, so the rate is held whatever the user count (when the
users are all busy, requests leave late and the lag is recorded). Every request is written to
``requests-<worker>.jsonl`` with its exact latency and the response's ``usage``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.runners import LocalRunner, MasterRunner

from deployer.loadtest.inputs import InputSampler, load_inputs
from deployer.loadtest.pacing import Pacer
from deployer.loadtest.records import WORKER_ENV, GeneratorSettings, Outcome, RequestRecord

SETTINGS = GeneratorSettings.from_env()
WORKER = os.environ.get(WORKER_ENV, "0")
FLUSH_EVERY_S = 0.25
TIMEOUT_STATUSES = (408, 504)
DONE_MESSAGE = "deployer_done"


class Recorder:
    """Buffers result lines and appends them to this process's file every `FLUSH_EVERY_S`."""

    def __init__(self, results_dir: str, worker: str) -> None:
        self.path = Path(results_dir) / f"requests-{SETTINGS.phase.replace(':', '-')}-{worker}.jsonl"
        self.meta_path = Path(results_dir) / f"generator-{SETTINGS.phase.replace(':', '-')}-{worker}.json"
        self._buffer: list[str] = []
        self.closed = False
        self.count = 0
        self.started = time.monotonic()
        self.cpu_started = time.process_time()
        # CPU share while sending: from the first to the latest request (not the idle start-up).
        self.active: list[float] | None = None  # [first wall, first cpu, last wall, last cpu]
        self._flusher = gevent.spawn(self._flush_forever)

    def add(self, record: RequestRecord) -> None:
        if self.closed:  # answered after the accounting was written: the run is over
            return
        self._buffer.append(record.to_json())
        self.count += 1
        wall, cpu = time.monotonic(), time.process_time()
        if self.active is None:
            self.active = [wall, cpu, wall, cpu]
        else:
            self.active[2], self.active[3] = wall, cpu

    def flush(self) -> None:
        if self._buffer:
            lines, self._buffer = self._buffer, []
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")

    def _flush_forever(self) -> None:
        while True:
            gevent.sleep(FLUSH_EVERY_S)
            self.flush()

    def close(self) -> None:
        self.closed = True
        self._flusher.kill(block=False)
        self.flush()
        wall = time.monotonic() - self.started
        cpu = time.process_time() - self.cpu_started
        active_wall = self.active[2] - self.active[0] if self.active else 0.0
        active_cpu = self.active[3] - self.active[1] if self.active else 0.0
        self.meta_path.write_text(json.dumps({
            "worker": WORKER, "pid": os.getpid(), "cpu_s": cpu, "wall_s": wall,
            "active_s": active_wall, "active_cpu_s": active_cpu,
            "cpu_share": active_cpu / active_wall if active_wall > 0.5 else (cpu / wall if wall > 0 else 0.0),
            "requests": self.count,
        }), encoding="utf-8")


class State:
    recorder: Recorder | None = None
    pacer: Pacer | None = None
    sampler: InputSampler | None = None
    signer: Any = None
    deadline: float | None = None
    in_flight = 0


def _on_init(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        # The master only coordinates; it ends the run once every worker has sent its share.
        done: set[str] = set()

        def on_done(msg: Any, **_: Any) -> None:
            done.add(str(msg.data))
            if len(done) >= SETTINGS.workers:
                gevent.spawn_later(0.2, environment.runner.quit)

        environment.runner.register_message(DONE_MESSAGE, on_done)
        return
    index = int(WORKER) if WORKER.isdigit() else 0
    inputs = load_inputs(SETTINGS.input_file, distribution=SETTINGS.distribution,
                         weight_field=SETTINGS.weight_field)
    State.sampler = InputSampler(inputs, SETTINGS.distribution, seed=SETTINGS.seed, offset=index,
                                 stride=SETTINGS.workers)
    if SETTINGS.mode == "rate":
        users_here = max(1, SETTINGS.users // SETTINGS.workers)
        State.pacer = Pacer(SETTINGS.rps / SETTINGS.workers, SETTINGS.duration_s,
                            warmup=min(SETTINGS.warmup, users_here))
    State.recorder = Recorder(SETTINGS.results_dir, WORKER)
    if SETTINGS.sigv4_region:
        from deployer.loadtest.signing import SigV4Signer

        State.signer = SigV4Signer(SETTINGS.sigv4_region)
    gevent.spawn(_quit_when_done, environment)


def _quit_when_done(environment: Any) -> None:
    """End as soon as this process's schedule is sent and answered (-t bounds it too).

    A single process quits; a worker tells the master, which quits when all workers are done.
    """
    while True:
        gevent.sleep(0.05)
        finished = (State.pacer is not None and State.pacer.done) if SETTINGS.mode == "rate" else (
            State.deadline is not None and time.monotonic() >= State.deadline)
        if finished and State.in_flight == 0:
            if State.recorder is not None:
                State.recorder.flush()
            if isinstance(environment.runner, LocalRunner):
                environment.runner.quit()
            else:
                environment.runner.send_message(DONE_MESSAGE, WORKER)
            return


def _on_quitting(**_: Any) -> None:
    if State.recorder is not None and not State.recorder.closed:
        State.recorder.close()


events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]


class AgentUser(FastHttpUser):
    host = SETTINGS.target_url
    wait_time = constant(0)
    network_timeout = SETTINGS.timeout_s
    connection_timeout = SETTINGS.timeout_s
    concurrency = 1
    path = f"/{SETTINGS.action}"

    @task
    def call_action(self) -> None:
        if SETTINGS.mode == "rate":
            assert State.pacer is not None
            kind, slot = State.pacer.next_slot()
            if kind == "warmup":
                State.in_flight += 1
                try:
                    self._send(0.0, phase="warmup")
                finally:
                    State.in_flight -= 1
                    State.pacer.warmup_answered += 1
                return
            if kind in ("wait", "done"):
                gevent.sleep(0.02 if kind == "wait" else 0.1)
                return
            State.in_flight += 1  # from the slot on: the run is not over until it is answered
            try:
                delay = slot - time.monotonic()
                if delay > 0:
                    gevent.sleep(delay)
                self._send(max(0.0, (time.monotonic() - slot) * 1000.0))
            finally:
                State.in_flight -= 1
            return
        now = time.monotonic()
        if State.deadline is None:
            State.deadline = now + SETTINGS.duration_s
        if now >= State.deadline:
            gevent.sleep(0.1)
            return
        State.in_flight += 1
        try:
            self._send(0.0)
        finally:
            State.in_flight -= 1

    def _send(self, lag_ms: float, phase: str = SETTINGS.phase) -> None:
        assert State.sampler is not None and State.recorder is not None
        index, body = State.sampler.next()
        headers = {"Content-Type": "application/json"}
        if State.signer is not None:
            headers = State.signer.headers("POST", SETTINGS.target_url + self.path, body, headers)
        sent = time.time()
        started = time.perf_counter()
        # geventhttpclient sends bytes as they are; locust's annotation only lists str.
        with self.client.request("POST", self.path, data=body,  # type: ignore[arg-type]
                                 headers=headers, name=self.path, catch_response=True) as response:
            ms = (time.perf_counter() - started) * 1000.0
            record = _record(response, sent, ms, lag_ms, index, phase)
            if record.outcome == "ok":
                response.success()
            else:
                response.failure(record.error or record.outcome)
        State.recorder.add(record)


def _record(response: Any, sent: float, ms: float, lag_ms: float, index: int, phase: str) -> RequestRecord:
    status = int(getattr(response, "status_code", 0) or 0)
    exception = response.request_meta.get("exception")
    payload: dict[str, Any] = {}
    try:
        content = response.content
        if content:
            parsed = json.loads(content)
            payload = parsed if isinstance(parsed, dict) else {}
    except Exception:  # any unreadable body is the target's failure, recorded below
        payload = {}
    outcome: Outcome = "ok"
    error: str | None = None
    if status == 0:  # no HTTP response: connection error or timeout
        name = type(exception).__name__ if exception is not None else "NoResponse"
        timed_out = "timeout" in name.lower() or "timed out" in str(exception).lower()
        outcome = "timeout" if timed_out else "failed"
        error = f"no response within {SETTINGS.timeout_s:g}s" if timed_out else name
    elif not 200 <= status < 300:
        detail = payload.get("error")
        kind = detail.get("type") if isinstance(detail, dict) else None
        outcome = "timeout" if status in TIMEOUT_STATUSES or (kind and "timeout" in str(kind).lower()) \
            else "failed"
        error = f"{status} {kind}" if kind else f"HTTP {status}"
    usage = payload.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    request_id = payload.get("request_id")
    return RequestRecord(
        t=sent, ms=round(ms, 3), status=status, outcome=outcome, phase=phase, worker=WORKER,
        lag_ms=round(lag_ms, 3), error=error,
        request_id=request_id if isinstance(request_id, str) else None,
        cost_usd=_number(usage.get("cost_usd")), memory_mb=_number(usage.get("memory_mb")),
        confidence=_number(usage.get("confidence")),
        input_tokens=_integer(usage.get("input_tokens")), output_tokens=_integer(usage.get("output_tokens")),
        input_index=index,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _integer(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
