"""The rollback drill: prove, unattended, that a bad version rolls itself back.

1. start an emulator (its own state directory) on a fast clock;
2. deploy a healthy version 1 (the first version goes to 100 % at once) and drive traffic;
3. once an alarm evaluation has judged a whole period of that traffic (20 requests at least),
   check version 1 is healthy and deploy version 2 with injected faults (a configuration change, so
   a new version) and let the spec's rollout policy (or `--strategy`) shift traffic to it;
4. wait for the rollout to end, stop the traffic, and report a timeline: when the fault began
   (first request served by version 2), when each alarm fired, when all traffic was back on the
   stable version, and how many requests the faulty version served.

It passes only if version 2 was rolled back and a healthy version serves 100 % of the traffic.
It also checks the detection bound: rollback within one alarm window plus one evaluation after
the fault began, in emulated time. Traffic is bounded in rate, count and wall time.
"""

from __future__ import annotations

import http.client
import json
import math
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from deployer.compiled import METRIC_NAMESPACE, DeploymentModel, RolloutStep
from deployer.errors import DeployerError
from deployer.evaluation.runner import MAX_DATA_BYTES
from deployer.jsonlines import JsonLinesFile
from deployer.loadtest.inputs import MAX_BYTES
from deployer.local.behaviour.clock import iso
from deployer.local.behaviour.metrics import MetricKey
from deployer.local.bundles.release import BundleBuilder, Faults
from deployer.local.front.emulator import Emulator

STRATEGIES = ("canary", "linear", "steps", "all_at_once")


def strategy_steps(model: DeploymentModel, strategy: str) -> tuple[RolloutStep, ...]:
    """The spec's steps for its own strategy; a standard schedule with the spec's bake otherwise."""
    if strategy == model.rollout.strategy:
        return model.rollout.steps
    return with_strategy(model, strategy).rollout.steps


def _schedule(model: DeploymentModel, strategy: str) -> list[tuple[float, int]]:
    bakes = [s.bake_s for s in model.rollout.steps if s.bake_s > 0]
    bake = bakes[0] if bakes else 300
    schedules = {
        "canary": [(10.0, bake), (100.0, 0)],
        "linear": [(25.0, bake), (50.0, bake), (75.0, bake), (100.0, 0)],
        "steps": [(5.0, bake), (50.0, bake), (100.0, 0)],
        "all_at_once": [(100.0, 0)],
    }
    if strategy not in schedules:
        raise DeployerError(f"unknown strategy {strategy!r}", hint=f"choose one of {', '.join(STRATEGIES)}")
    return schedules[strategy]


def with_strategy(model: DeploymentModel, strategy: str | None) -> DeploymentModel:
    """The model with another strategy's schedule, planned by the compiler like any spec's."""
    if not strategy or strategy == model.rollout.strategy:
        return model
    from deployer.compiler.rollout import plan_rollout

    r = model.rollout
    gating = [a for a in model.alarms if a.name in r.gating_alarms]
    rollout = plan_rollout(_schedule(model, strategy), gating, min_requests=r.min_requests_per_step, strategy=strategy,
                           prefix=f"{model.agent}-{model.environment}", notify=r.notify)
    return replace(model, rollout=rollout)


def load_inputs(model: DeploymentModel, limit: int = 500) -> list[Any]:
    """Request bodies for the drill: the load profile's input file when there is one.

    Read by the load test's reader; a bad line is skipped here (`deployer loadtest` reports it).
    """
    path = model.load.input_file
    drop = {model.load.weight_field or "weight"}  # the sampling weight is not part of the input
    out: list[Any] = []
    if path and Path(path).exists():
        with JsonLinesFile(path, what="input file", max_bytes=MAX_BYTES,
                           hint="load_test.input_file: one JSON object per line") as source:
            for _, obj in source.objects("a JSON object (the action input)"):
                out.append(obj.get("input", {k: v for k, v in obj.items() if k not in drop}))
                if len(out) >= limit:
                    break
    return out or [{"message": "I was charged twice for the same card payment, please help"}]


def quality_fault(model: DeploymentModel) -> str:
    """`FIELD:A=B` for `--fault quality`: the online gate's label field, its most frequent expected
    label in the evaluation set (A) answered as the next one (B): a model that confuses two classes."""
    gate = model.rollout.quality
    if gate is None or not gate.field or len(gate.labels) < 2:
        raise DeployerError("--fault quality needs an online quality gate on a label field",
                            hint="add evaluation.online: {field: ..., labels: [...]} to agent.yaml (docs/evaluation.md)")
    counts: Counter[str] = Counter()
    data = model.evaluation.data_file if model.evaluation else None
    if data and Path(data).is_file():
        with JsonLinesFile(data, what="evaluation set", max_bytes=MAX_DATA_BYTES,
                           hint="evaluation.data: one JSON object per line") as source:
            for _, item in source.objects('{"input": ..., "expected": ...}'):  # bad lines: `deployer eval` reports them
                expected = item.get("expected")
                value = expected.get(gate.field) if isinstance(expected, dict) else None
                if value in gate.labels:
                    counts[str(value)] += 1
    ranked = [label for label, _ in counts.most_common()] + [x for x in gate.labels if x not in counts]
    return f"{gate.field}:{ranked[0]}={ranked[1]}"


class TrafficDriver:
    """Paced POSTs to the gateway from a few threads with keep-alive connections; bounded."""

    def __init__(self, url: str, action: str, inputs: list[Any], *, rps: float, threads: int = 8,
                 max_requests: int = 200_000, max_wall_s: float = 300.0) -> None:
        self._host = url.split("//", 1)[1]
        self._path = "/" + action.lstrip("/")
        self._bodies = [json.dumps(i).encode() for i in inputs]
        self._interval = threads / max(rps, 0.1)
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]
        self._stop = threading.Event()
        self._max_requests = max_requests
        self._deadline = time.monotonic() + max_wall_s
        self._lock = threading.Lock()
        self.sent = 0
        self.by_version: Counter[str] = Counter()
        self.errors_by_version: Counter[str] = Counter()

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=35)

    def _run(self, index: int) -> None:
        conn = http.client.HTTPConnection(self._host, timeout=30)
        next_at = time.monotonic() + index * self._interval / len(self._threads)
        i = index
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                if self.sent >= self._max_requests:
                    return
                self.sent += 1
            body = self._bodies[i % len(self._bodies)]
            i += len(self._threads)
            try:
                conn.request("POST", self._path, body=body, headers={"content-type": "application/json"})
                response = conn.getresponse()
                response.read()
                version = response.getheader("x-deployer-version") or "?"
                with self._lock:
                    self.by_version[version] += 1
                    self.errors_by_version[version] += response.status >= 500
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(self._host, timeout=30)
            next_at += self._interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()
        conn.close()


@dataclass
class DrillReport:
    ok: bool
    verdict: str
    agent: str
    environment: str
    strategy: str
    steps: list[tuple[float, int]]
    faults: dict[str, Any]
    time_scale: float
    stable_version: str | None = None
    faulty_version: str | None = None
    rollout_status: str | None = None
    fault_started_at: float | None = None
    rolled_back_at: float | None = None
    detection_s: float | None = None
    bound_s: float | None = None
    within_bound: bool | None = None
    caught_by: str | None = None  # the rollback's trigger: alarm, quality, evidence, deadline
    faulty_requests: int = 0
    faulty_errors: int = 0
    total_requests: int = 0
    final_routing: dict[str, Any] = field(default_factory=dict)
    alarms_fired: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    #: real seconds of each phase: start, deploy_healthy, baseline, deploy_faulty, rollout, settle, stop
    phases_s: dict[str, float] = field(default_factory=dict)

    def lap(self, phase: str, since: list[float]) -> None:
        """Record the real time since the last lap (`since` holds its monotonic time) as `phase`."""
        now = time.monotonic()
        self.phases_s[phase] = round(now - since[0], 3)
        since[0] = now

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_drill(
    model: DeploymentModel,
    *,
    faults: Faults,
    strategy: str | None = None,
    time_scale: float = 60.0,
    rps: float = 300.0,
    state_dir: Path | None = None,
    bundle_builder: BundleBuilder | None = None,
    max_wall_s: float = 150.0,
) -> DrillReport:
    started = time.monotonic()
    model = with_strategy(model, strategy)
    report = DrillReport(ok=False, verdict="", agent=model.agent, environment=model.environment,
                         strategy=model.rollout.strategy, steps=[(s.percent, s.bake_s) for s in model.rollout.steps],
                         faults=faults.as_dict(), time_scale=time_scale)
    since = [started]
    with tempfile.TemporaryDirectory(prefix="deployer-drill-") as scratch:
        directory = state_dir or Path(scratch)
        with Emulator(model, state_dir=directory, time_scale=time_scale, bundle_builder=bundle_builder) as emu:
            report.lap("start", since)
            _drill(emu, model, faults, rps, report, started, max_wall_s, since)
            since[0] = time.monotonic()
    report.lap("stop", since)
    report.wall_s = time.monotonic() - started
    return report


def _drill(emu: Emulator, model: DeploymentModel, faults: Faults, rps: float, report: DrillReport,
           started: float, max_wall_s: float, since: list[float]) -> None:
    clock = emu.clock
    healthy = emu.deploy(description="drill: healthy version")
    report.stable_version = healthy.version
    report.lap("deploy_healthy", since)
    driver = TrafficDriver(emu.gateway_url, model.load.action, load_inputs(model), rps=rps,
                           max_wall_s=max_wall_s)
    driver.start()
    try:
        tick = emu.evaluator.tick_s
        # baseline: an evaluation that judged a whole period of the healthy version's traffic, with at least
        # 20 requests in it (a p50 alarm judges no fewer); the one before saw the traffic begin
        invocations = MetricKey.of(METRIC_NAMESPACE, "Invocations", {"Agent": model.agent,
                                                                      "Environment": model.environment,
                                                                      "Version": healthy.version})
        first = (math.floor(clock.now() / tick) + 1) * tick
        while time.monotonic() - started < max_wall_s / 2:
            judged = math.floor(emu.evaluator.evaluated_at / tick) * tick  # the end of the period it judged
            if judged > first and sum(emu.metrics.values(invocations, judged - tick, judged)) >= 20:
                break
            time.sleep(0.02)
        report.lap("baseline", since)
        baseline = emu.runtime.counters(healthy.version)
        emu.evaluator.evaluate_all(clock.now())
        firing = emu.evaluator.firing()  # any alarm: the gating ones on v1 and the service ones
        if baseline.requests == 0 or baseline.errors > baseline.requests / 2 or firing:
            why = (f"its gating alarms fire: {', '.join(a.name for a in firing)}" if firing else
                   f"{baseline.errors} of {baseline.requests} warm-up requests failed")
            report.verdict = (f"FAIL: the healthy version {healthy.version} is not healthy before the fault ({why}); "
                              "run `deployer invoke` to see why, and fix the agent first")
            report.timeline = emu.timeline()
            return
        deploy_at = clock.now()
        faulty = emu.deploy(faults=faults, description="drill: faulty version")
        report.lap("deploy_faulty", since)
        report.faulty_version = faulty.version
        if not faulty.created:
            raise DeployerError("the faulty deploy published no new version", hint="give at least one fault")
        remaining = max(5.0, max_wall_s - (time.monotonic() - started))
        rollout = emu.wait_for_rollout(timeout_s=remaining) or {}
        report.lap("rollout", since)
        # show traffic back on the stable version: some requests it served after the rollout ended
        served = emu.runtime.counters(healthy.version).requests + 10
        settle_until = clock.now() + tick / 2
        while (clock.now() < settle_until and emu.runtime.counters(healthy.version).requests < served
               and time.monotonic() - started < max_wall_s):
            time.sleep(0.02)
        report.lap("settle", since)
    finally:
        driver.stop()
    status = emu.status()
    counters = emu.runtime.counters(faulty.version)
    report.rollout_status = rollout.get("status")
    report.faulty_requests, report.faulty_errors = counters.requests, counters.errors
    report.fault_started_at = counters.first_at
    report.total_requests = sum(v["requests"] for v in status["versions"])
    report.final_routing = status["routing"]
    report.timeline = [e for e in emu.timeline(since=deploy_at - 2 * tick)
                       if e["kind"] != "alarm" or e.get("state") == "ALARM" or e.get("previous_state") == "ALARM"]
    report.alarms_fired = [{"at": e["at"], "alarm": e["alarm"], "message": e["message"]} for e in report.timeline
                           if e["kind"] == "alarm" and e.get("state") == "ALARM" and e.get("version") == faulty.version]
    rollback = next((e for e in report.timeline if e["kind"] == "rollback"), None)
    report.rolled_back_at = rollback["at"] if rollback else None
    report.caught_by = rollback.get("trigger") if rollback else None
    gating = [a for a in model.alarms if a.name in model.rollout.gating_alarms]
    if gating and report.caught_by == "alarm":  # the alarm bound: the quality gate decides on samples, not windows
        report.bound_s = min(a.window_s for a in gating) + tick
    if report.fault_started_at is not None and report.rolled_back_at is not None:
        report.detection_s = report.rolled_back_at - report.fault_started_at
        if report.bound_s is not None:
            report.within_bound = report.detection_s <= report.bound_s
    primary, additional = status["routing"]["primary"], status["routing"]["additional"]
    healthy_live = primary is not None and not additional and not (emu.state.version(primary) or _NoFaults).faults
    rolled_back = report.rollout_status == "rolled_back" and primary != faulty.version
    report.ok = rolled_back and healthy_live
    if report.ok:
        report.verdict = (f"PASS: version {faulty.version} was rolled back (caught by: {report.caught_by}); "
                          f"version {primary} (healthy) serves 100 %")
    elif report.rollout_status == "succeeded":
        gates = "no gating alarm" + (" and not the quality gate" if model.rollout.quality else "")
        report.verdict = (f"FAIL: version {faulty.version} was promoted to 100 %: {gates} caught "
                          f"{faults.as_dict() or 'the (empty) fault set'}")
    else:
        report.verdict = (f"FAIL: rollout {report.rollout_status}; routing {status['routing']}")


class _NoFaults:
    faults: dict[str, float] = {"unknown": 1.0}


def format_report(report: DrillReport) -> list[str]:
    """The timeline and verdict as lines of text (the CLI prints them)."""
    steps = " -> ".join(f"{p:g} %" for p, _ in report.steps)
    faults = ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}"
                       for k, v in report.faults.items()) or "none"
    lines = [f"drill: {report.agent}/{report.environment}, strategy {report.strategy} ({steps}), faults {faults}, "
             f"time x{report.time_scale:g}"]
    origin = report.fault_started_at
    marks: list[tuple[float, str]] = []
    for e in report.timeline:
        marks.append((e["at"], f"{e['kind']:<9} {e['message']}"))
    if origin is not None:
        marks.append((origin, f"{'FAULT':<9} fault began: first request served by version {report.faulty_version}"))
    for at, text in sorted(marks, key=lambda m: m[0]):
        offset = f"{at - origin:+8.1f}s" if origin is not None else " " * 9
        lines.append(f"  {iso(at)[11:23]} {offset}  {text[:220]}")
    lines.append(f"faulty version {report.faulty_version} served {report.faulty_requests} requests "
                 f"({report.faulty_errors} errors) of {report.total_requests}")
    if report.detection_s is not None and report.bound_s is not None:
        lines.append(f"rolled back {report.detection_s:.1f} s (emulated) after the fault began; bound "
                     f"{report.bound_s:.0f} s (alarm window + one evaluation): "
                     f"{'within' if report.within_bound else 'EXCEEDED'}")
    elif report.detection_s is not None:
        lines.append(f"rolled back {report.detection_s:.1f} s (emulated) after the fault began, caught by: "
                     f"{report.caught_by}")
    lines.append(f"final routing: {report.final_routing}")
    lines.append(report.verdict)
    lines.append(f"wall time {report.wall_s:.1f} s")
    return lines
