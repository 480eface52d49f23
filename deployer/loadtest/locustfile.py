"""The locust side of `deployer loadtest`. Runs only inside a locust process (`python -m locust`).

Three roles, one plan:

- a single process (locust's local runner) reads the plan from the JSON file named by
  ``DEPLOYER_LOADTEST_SETTINGS`` and writes ``requests-<phase>-0.jsonl`` itself;
- a master reads the same file, ships the plan (settings and input bodies, `distributed`) to
  every worker inside locust's spawn message, writes the records its workers send it to
  ``requests-<phase>-<worker>.jsonl`` and quits when every worker has sent its share;
- a worker, on this host or another, has no plan of its own: it checks and runs the master's,
  holds ``rps / workers`` requests per second (its index is the one the master gave it) and
  sends its records back over locust's connection.

Every generating process takes the next slot of one schedule, so the rate is held whatever the
user count (when the users are all busy, requests leave late and the lag is recorded).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from deployer.loadtest import distributed
from deployer.loadtest.inputs import InputSampler, InputSet, load_inputs
from deployer.loadtest.pacing import Pacer
from deployer.loadtest.records import SETTINGS_ENV, GeneratorSettings, Outcome, RequestRecord

FLUSH_EVERY_S = 0.25
TIMEOUT_STATUSES = (408, 504)


class Recorder:
    """Buffers result lines and hands them to `sink` every `FLUSH_EVERY_S` (a file or the master)."""

    def __init__(self, sink: Callable[[list[str]], None]) -> None:
        self._sink = sink
        self._buffer: list[str] = []
        self.closed = False
        self.count = 0
        self.started = time.monotonic()
        self.cpu_started = time.process_time()
        # CPU share while sending: from the first to the latest request (not the idle start-up).
        self.active: list[float] | None = None  # [first wall, first cpu, last wall, last cpu]
        self._flusher = gevent.spawn(self._flush_forever)

    def add(self, record: RequestRecord) -> None:
        if self.closed:  # answered after the accounting was taken: the run is over
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
            self._sink(lines)

    def _flush_forever(self) -> None:
        while True:
            gevent.sleep(FLUSH_EVERY_S)
            self.flush()

    def close(self, worker: str) -> dict[str, Any]:
        """Flush, stop recording and return this process's CPU accounting."""
        self.flush()
        self.closed = True
        self._flusher.kill(block=False)
        wall = time.monotonic() - self.started
        cpu = time.process_time() - self.cpu_started
        active_wall = self.active[2] - self.active[0] if self.active else 0.0
        active_cpu = self.active[3] - self.active[1] if self.active else 0.0
        return {"worker": worker, "host": socket.gethostname(), "pid": os.getpid(), "cpu_s": cpu, "wall_s": wall,
                "active_s": active_wall, "active_cpu_s": active_cpu,
                "cpu_share": active_cpu / active_wall if active_wall > 0.5 else (cpu / wall if wall > 0 else 0.0),
                "requests": self.count}


def _file_name(kind: str, settings: GeneratorSettings, worker: str, suffix: str) -> Path:
    return Path(settings.results_dir) / f"{kind}-{settings.phase.replace(':', '-')}-{worker}.{suffix}"


def _append(path: Path, lines: list[str]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


class State:
    settings: GeneratorSettings | None = None  # None in a worker until the master's plan arrives
    worker = "0"
    recorder: Recorder | None = None
    pacer: Pacer | None = None
    sampler: InputSampler | None = None
    signer: Any = None
    deadline: float | None = None
    in_flight = 0
    idle = False  # a worker beyond the master's --expect-workers: joined, sends nothing


def _read_local_settings() -> GeneratorSettings | None:
    return GeneratorSettings.read(os.environ[SETTINGS_ENV]) if os.environ.get(SETTINGS_ENV) else None


def _configure(settings: GeneratorSettings, inputs: InputSet, index: int, sink: Callable[[list[str]], None]) -> None:
    """Set up this generating process for its share of the plan; users are created after this."""
    State.settings, State.worker = settings, str(index)
    AgentUser.host = settings.target_url
    AgentUser.network_timeout = AgentUser.connection_timeout = settings.timeout_s
    State.sampler = InputSampler(inputs, settings.distribution, seed=settings.seed, offset=index % settings.workers,
                                 stride=settings.workers)
    if settings.mode == "rate":
        users_here = max(1, settings.users // settings.workers)
        State.pacer = Pacer(settings.rps / settings.workers, settings.duration_s,
                            warmup=min(settings.warmup, users_here))
    State.recorder = Recorder(sink)
    if settings.sigv4_region:
        from deployer.loadtest.signing import SigV4Signer

        State.signer = SigV4Signer(settings.sigv4_region)


def _on_init(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _master(environment, _read_local_settings())
    elif isinstance(runner, LocalRunner):
        settings = _read_local_settings()
        assert settings is not None, f"{SETTINGS_ENV} names no settings file"
        inputs = load_inputs(settings.input_file, distribution=settings.distribution,
                             weight_field=settings.weight_field)
        _configure(settings, inputs, 0, lambda lines: _append(_file_name("requests", settings, "0", "jsonl"), lines))
        gevent.spawn(_quit_when_done, environment)


def _master(environment: Any, settings: GeneratorSettings | None) -> None:
    """Ship the plan, write what the workers send, quit when every expected worker is done."""
    assert settings is not None, f"{SETTINGS_ENV} names no settings file"
    inputs = load_inputs(settings.input_file, distribution=settings.distribution, weight_field=settings.weight_field)
    setattr(environment.parsed_options, distributed.PLAN_OPTION, distributed.plan_payload(settings, inputs))
    runner = environment.runner
    joined: list[str] = []
    done: set[str] = set()
    refused: list[str] = []

    def note() -> None:
        (Path(settings.results_dir) / distributed.WORKERS_FILE).write_text(json.dumps(
            {"expected": settings.workers, "joined": joined, "done": sorted(done), "refused": refused}),
            encoding="utf-8")

    def on_connect(client_id: str, **_: Any) -> None:
        if client_id not in joined:
            joined.append(client_id)
            note()

    def on_records(msg: Any, **_: Any) -> None:
        _append(_file_name("requests", settings, str(msg.data["worker"]), "jsonl"), list(msg.data["lines"]))

    def on_done(msg: Any, **_: Any) -> None:
        worker = str(msg.data["worker"])
        _file_name("generator", settings, worker, "json").write_text(json.dumps(msg.data["meta"]), encoding="utf-8")
        if not msg.data["meta"].get("idle"):
            done.add(worker)
        note()
        if len(done) >= settings.workers:
            gevent.spawn_later(0.2, runner.quit)

    def on_refused(msg: Any, **_: Any) -> None:
        refused.append(f"{msg.node_id}: {msg.data['reason']}")
        note()
        environment.process_exit_code = 3
        gevent.spawn_later(0.2, runner.quit)

    environment.events.worker_connect.add_listener(on_connect)
    runner.register_message(distributed.RECORDS_MESSAGE, on_records)
    runner.register_message(distributed.DONE_MESSAGE, on_done)
    runner.register_message(distributed.REFUSED_MESSAGE, on_refused)
    note()


def _on_test_start(environment: Any, **_: Any) -> None:
    """A worker: the spawn message carried the master's plan; set up before any user exists."""
    runner = environment.runner
    if not isinstance(runner, WorkerRunner) or State.settings is not None:
        return
    try:
        plan = distributed.check_payload(getattr(environment.parsed_options, distributed.PLAN_OPTION, None))
    except distributed.PlanRefused as exc:
        runner.send_message(distributed.REFUSED_MESSAGE, {"reason": str(exc)})
        distributed.write_status(state="refused", reason=str(exc))
        State.idle = True
        gevent.spawn_later(1.0, runner.quit)
        return
    settings, index = plan.settings, runner.worker_index
    State.idle = not 0 <= index < settings.workers

    def send(lines: list[str]) -> None:
        runner.send_message(distributed.RECORDS_MESSAGE, {"worker": str(index), "lines": lines})

    _configure(settings, plan.inputs, index, send)
    distributed.write_status(state="joined", plan=plan.plan_id, label=settings.label, phase=settings.phase,
                             phase_number=settings.phase_number, phases=settings.phases, worker=index,
                             idle=State.idle, bound_s=settings.duration_s + settings.timeout_s * 2 + 10,
                             rps_share=settings.rps / settings.workers if settings.mode == "rate" else None,
                             target=settings.target_url)
    gevent.spawn(_quit_when_done, environment)


def _quit_when_done(environment: Any) -> None:
    """End as soon as this process's schedule is sent and answered (the master's -t bounds it too).

    A single process quits; a worker sends its last records and accounting to the master, which
    quits when every worker is done (and tells the workers to quit).
    """
    settings = State.settings
    assert settings is not None
    while not State.idle:
        gevent.sleep(0.05)
        finished = (State.pacer is not None and State.pacer.done) if settings.mode == "rate" else (
            State.deadline is not None and time.monotonic() >= State.deadline)
        if finished and State.in_flight == 0:
            break
    assert State.recorder is not None
    meta = {**State.recorder.close(State.worker), "idle": State.idle}
    if isinstance(environment.runner, LocalRunner):
        _file_name("generator", settings, State.worker, "json").write_text(json.dumps(meta), encoding="utf-8")
        environment.runner.quit()
    else:
        environment.runner.send_message(distributed.DONE_MESSAGE, {"worker": State.worker, "meta": meta})
        distributed.write_status(state="done", phase=settings.phase, phase_number=settings.phase_number,
                                 phases=settings.phases, requests=meta["requests"], idle=State.idle)


def _on_quitting(environment: Any, **_: Any) -> None:
    """Stopped before the schedule ended (SIGTERM, the master's -t): keep what was recorded."""
    recorder, settings = State.recorder, State.settings
    if recorder is None or recorder.closed or settings is None:
        return
    meta = recorder.close(State.worker)
    if isinstance(environment.runner, LocalRunner):
        _file_name("generator", settings, State.worker, "json").write_text(json.dumps(meta), encoding="utf-8")


events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]


class AgentUser(FastHttpUser):
    host: str | None = None  # set from the plan before any user is created
    wait_time = constant(0)
    concurrency = 1

    @task
    def call_action(self) -> None:
        settings = State.settings
        if settings is None or State.idle:
            gevent.sleep(0.1)
            return
        if settings.mode == "rate":
            assert State.pacer is not None
            kind, slot = State.pacer.next_slot()
            if kind == "warmup":
                State.in_flight += 1
                try:
                    self._send(settings, 0.0, phase="warmup")
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
                self._send(settings, max(0.0, (time.monotonic() - slot) * 1000.0))
            finally:
                State.in_flight -= 1
            return
        now = time.monotonic()
        if State.deadline is None:
            State.deadline = now + settings.duration_s
        if now >= State.deadline:
            gevent.sleep(0.1)
            return
        State.in_flight += 1
        try:
            self._send(settings, 0.0)
        finally:
            State.in_flight -= 1

    def _send(self, settings: GeneratorSettings, lag_ms: float, phase: str | None = None) -> None:
        assert State.sampler is not None and State.recorder is not None
        index, body = State.sampler.next()
        path = f"/{settings.action}"
        headers = {"Content-Type": "application/json"}
        if State.signer is not None:
            headers = State.signer.headers("POST", settings.target_url + path, body, headers)
        sent = time.time()
        started = time.perf_counter()
        # geventhttpclient sends bytes as they are; locust's annotation only lists str.
        with self.client.request("POST", path, data=body,  # type: ignore[arg-type]
                                 headers=headers, name=path, catch_response=True) as response:
            ms = (time.perf_counter() - started) * 1000.0
            record = _record(response, sent, ms, lag_ms, index, phase or settings.phase, settings.timeout_s)
            if record.outcome == "ok":
                response.success()
            else:
                response.failure(record.error or record.outcome)
        State.recorder.add(record)


def _record(response: Any, sent: float, ms: float, lag_ms: float, index: int, phase: str,
            timeout_s: float) -> RequestRecord:
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
        error = f"no response within {timeout_s:g}s" if timed_out else name
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
        t=sent, ms=round(ms, 3), status=status, outcome=outcome, phase=phase, worker=State.worker,
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
