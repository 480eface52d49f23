"""The emulator's library API: `Emulator`, usable as a context manager from tests and scripts.

    with Emulator(model, state_dir=tmp, time_scale=60) as emu:
        emu.deploy()                                   # v1: first version, 100 % at once
        emu.invoke("route", {"text": "hi"})            # through the gateway
        emu.deploy(faults=Faults(error_rate=0.3))      # v2: a config change -> new version, canary
        emu.wait_for_rollout(timeout_s=30)             # rolled back by its alarms
        emu.status(); emu.alerts(); emu.rollback(reason="...")

It composes the pieces: moto in a child process (`moto_state`), the gateway with one worker per
version (`gateway`), EMF metrics (`metrics`), the alarm evaluator (`alarms`), the rollout engine
(`rollout`), notifications (`notify`), the request log (`recorder`) and persisted state (`state`).
Library code never prints; `deployer.commands.local` does.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TextIO

from deployer.compiled import METRIC_NAMESPACE, DeploymentModel, RolloutStep
from deployer.errors import DeployerError
from deployer.local.behaviour.alarms import AlarmEvaluator, LowSamplePolicy, Transition, evaluation_range
from deployer.local.behaviour.clock import Clock, ScaledClock
from deployer.local.behaviour.metrics import MetricKey, MetricStore, parse_emf
from deployer.local.behaviour.notify import Notifier, iso
from deployer.local.behaviour.rollout import RolloutEngine, RolloutState
from deployer.local.bundles.gateway import FunctionRuntime, Gateway, gateway_request
from deployer.local.bundles.release import DeployResult, Faults, config_hash, default_bundle_builder, hash_tree, interpreter_for
from deployer.local.bundles.workers import VersionWorker, worker_for_version
from deployer.local.front.control import ControlServer
from deployer.local.front.discovery import remove_discovery, write_discovery
from deployer.local.state.event_log import EVENTS_FILE, EventLog
from deployer.local.state.moto_state import AwsState, MotoProcess
from deployer.local.state.recorder import parse_line
from deployer.local.state.sink import TelemetrySink
from deployer.local.state.store import EmulatorState, VersionRecord, load_state, save_state

__all__ = ["BundleBuilder", "DeployResult", "Emulator", "Faults", "RestartPolicy"]  # Faults, DeployResult: re-exported

BundleBuilder = Callable[[DeploymentModel, Path], Path]
RestartPolicy = Literal["rollback", "resume"]


class Emulator:
    """The local stand-in for the agent's AWS stack. Start it, deploy into it, send it traffic."""

    def __init__(
        self,
        model: DeploymentModel | None = None,
        *,
        state_dir: Path | str | None = None,
        time_scale: float = 1.0,
        gateway_port: int = 0,
        control_port: int = 0,
        moto_port: int = 0,
        bundle_builder: BundleBuilder | None = None,
        on_restart: RestartPolicy = "rollback",
        worker_threads: int = 32,
        evaluate_low_sample_count: LowSamplePolicy | None = None,
        advertise: bool = False,
        handler: str = "handlers.runtime.handler",
        clock: Clock | None = None,
        event_console: TextIO | None = None,
    ) -> None:
        self._model = model
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:  # a throwaway emulator (tests, load tests): state in a temporary directory
            self._scratch = tempfile.TemporaryDirectory(prefix="deployer-emulator-")
            state_dir = self._scratch.name
        self.state_dir = Path(state_dir).resolve()
        # every timeline event also goes through structlog: JSON lines in events.log, and a console if given
        self.event_log = EventLog(self.state_dir / EVENTS_FILE, console=event_console)
        self.clock: Clock = clock or ScaledClock(time_scale)
        self._ports = (gateway_port, control_port, moto_port)
        self._build = bundle_builder or default_bundle_builder
        self._on_restart = on_restart
        self._threads = worker_threads
        self._low_sample = evaluate_low_sample_count
        self._advertise = advertise
        self._handler = handler
        self._lock = threading.RLock()
        self._deploy_lock = threading.Lock()
        self._workers: dict[str, VersionWorker] = {}
        self._worker_lock = threading.Lock()
        self._engine: RolloutEngine | None = None
        self._engine_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._threads_started: list[threading.Thread] = []
        self._logs: list[str] = []
        self._started = False
        self.state = EmulatorState(agent=model.agent if model else "", environment=model.environment if model else "")
        self.restart_notice: str | None = None
        self._bound = False

    @property
    def model(self) -> DeploymentModel:
        if self._model is None:
            raise DeployerError("the emulator has no deployment model yet: deploy one first")
        return self._model

    @model.setter
    def model(self, value: DeploymentModel) -> None:
        self._model = value

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Emulator:
        """Start moto; with a model, also create its resources and start gateway, alarms and control."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "logs").mkdir(exist_ok=True)
        # request threads wait on the GIL behind background threads; a 1 ms switch interval (not 5)
        # keeps that wait out of the gateway's tail latency
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, 0.001))
        self._moto = MotoProcess(self._ports[2])
        try:
            self.moto_endpoint = self._moto.launch()
            if self._model is not None:
                self._bind(self._model)
            else:
                self._moto.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _bind(self, m: DeploymentModel) -> None:
        self._model = m
        self.state = EmulatorState(agent=m.agent, environment=m.environment)
        self.aws = AwsState(self.moto_endpoint, m)  # clients are built while moto boots
        self._moto.wait_ready()
        self.aws.create_static()
        # raw datapoints for the longest alarm window (plus margin): percentiles need the values;
        # per-minute sums for the longest step a rollout may hold (its traffic count reads them)
        self.metrics = MetricStore(retention_s=max([0, *((evaluation_range(a) + 1) * a.period_s for a in m.alarms)]) + 600.0,
                                   minute_retention_s=max([0, *(s.hold_limit_s for s in m.rollout.steps)]) + 3600.0)
        self._moto_writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moto-writes")
        self.sink = TelemetrySink(endpoint=self.moto_endpoint, region=m.region, table=m.request_log.table_name,
                                  ttl_days=m.request_log.ttl_days, log_path=self.state_dir / "logs" / "sink.log")
        self.sink.start()
        self.notifier = Notifier(m, publish=self.aws.publish, log_path=self.state_dir / "alerts.jsonl",
                                 now=self.clock.now)
        self.evaluator = self._new_evaluator(m)
        self._alarm_metrics = frozenset({"Invocations", "Errors", *(a.metric for a in m.alarms)})
        self.runtime = FunctionRuntime(function_name=m.function.name, region=m.region,
                                       timeout_s=float(m.function.timeout_s), now=self.clock.now,
                                       memory_mb=m.function.memory_mb,
                                       worker_for=self._worker, on_lines=self._on_lines)
        self._gateway = Gateway(self.runtime, port=self._ports[0])
        self._gateway.start()
        self.gateway_url = self._gateway.url
        self._restore()
        self._spawn(self._evaluate_loop, "alarm-evaluator")
        self._control = ControlServer(self, port=self._ports[1])
        self._control.start()
        self.control_url = self._control.url
        self._started = self._bound = True
        if self._advertise:
            write_discovery(self.state_dir, self.endpoints())

    def endpoints(self) -> dict[str, Any]:
        if self._model is None:
            return {"moto_endpoint": getattr(self, "moto_endpoint", None), "state_dir": str(self.state_dir)}
        return {"gateway_url": getattr(self, "gateway_url", None), "moto_endpoint": getattr(self, "moto_endpoint", None),
                "control_url": getattr(self, "control_url", None), "agent": self.model.agent,
                "environment": self.model.environment, "region": self.model.region,
                "function": self.model.function.name, "alias": self.model.alias,
                "time_scale": self.clock.time_scale, "state_dir": str(self.state_dir)}

    def stop(self) -> None:
        """Stop everything. A rollout in progress stays recorded as unfinished (see `on_restart`)."""
        self._stop.set()
        if self._engine is not None:
            self._engine.halt()
        if self._engine_thread is not None:
            self._engine_thread.join(timeout=10)
        for name in ("_control", "_gateway"):
            server = getattr(self, name, None)
            if server is not None:
                server.stop()
        for thread in self._threads_started:
            thread.join(timeout=5)
        with self._worker_lock:
            workers, self._workers = list(self._workers.values()), {}
        for worker in workers:
            worker.stop()
        writes = getattr(self, "_moto_writes", None)
        if writes is not None:
            writes.shutdown(wait=True)
        sink = getattr(self, "sink", None)
        if sink is not None:
            sink.stop()
        notifier = getattr(self, "notifier", None)
        if notifier is not None:
            notifier.close()
        if self._started:
            with self._lock:
                save_state(self.state_dir, self.state)
        if self._advertise:
            remove_discovery(self.state_dir)
        moto = getattr(self, "_moto", None)
        if moto is not None:
            moto.stop()
        self._started = False
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
        if hasattr(self, "_switch_interval"):
            sys.setswitchinterval(self._switch_interval)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads_started.append(thread)

    def _new_evaluator(self, model: DeploymentModel) -> AlarmEvaluator:
        return AlarmEvaluator(model.alarms, self.metrics, agent=model.agent, environment=model.environment,
                              evaluate_low_sample_count=self._low_sample, on_transition=self._on_transition)

    def _evaluate_loop(self) -> None:
        self.evaluator.run(self.clock, self._stop, prune=self.metrics.prune)

    # -- events -------------------------------------------------------------------------------
    def _event(self, kind: str, message: str, **extra: Any) -> dict[str, Any]:
        at = self.clock.now()
        event = {"at": at, "time": iso(at), "kind": kind, "message": message, **extra}
        self._record(event)
        return event

    def _record(self, event: dict[str, Any]) -> None:
        """Add an event to the timeline and, in the same order, to the operational log (events.log)."""
        with self._lock:
            self.state.add_event(event)
            self.event_log.emit(event, agent=self.state.agent, environment=self.state.environment)

    def _persist(self) -> None:
        with self._lock:
            save_state(self.state_dir, self.state)

    def timeline(self, since: float | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self.state.timeline if since is None or e["at"] >= since]

    def _on_transition(self, t: Transition) -> None:
        engine = self._engine
        if engine is not None and t.new == "ALARM" and t.alarm in self.model.rollout.gating_alarms \
                and t.version == engine.state.version and not engine.state.done:
            engine.abort(f"alarm {t.alarm} in ALARM: {t.reason}")  # first: rolling back must not wait
        # a service alarm watches every version: say which ones served the requests it judged
        version = t.version if t.version is not None else self._served_in(t.alarm, t.at)
        self._moto_writes.submit(self.aws.set_alarm_state, t.alarm, t.new, t.reason,
                                 {"version": version, "at": iso(t.at)})
        self._event("alarm", f"alarm {t.alarm}: {t.old} -> {t.new} (version {version}): {t.reason}",
                    alarm=t.alarm, state=t.new, previous_state=t.old, version=version, gates_rollout=t.gates_rollout)
        if t.new == "ALARM" or (t.new == "OK" and t.old == "ALARM"):
            subject = f"{t.new}: {t.alarm} on {self.model.agent} ({self.model.environment})"
            self.notifier.notify(t.notify, event="alarm", subject=subject, alarm=t.alarm, state=t.new,
                                 previous_state=t.old, reason=t.reason, version=version, severity=t.severity,
                                 kind=next((a.kind for a in self.model.alarms if a.name == t.alarm), None))

    def _served_in(self, alarm_name: str, at: float) -> str:
        """The versions that served the requests of an alarm's last window, with their shares:
        "1 (81 %), 2 (19 %)", or one version alone."""
        alarm = self.model.alarm(alarm_name)
        start = at - (alarm.window_s if alarm else 60)
        counts = self.metrics.totals_by(METRIC_NAMESPACE, "Invocations", "Version", start, at)
        if len(counts) < 2:
            return next(iter(counts), self.state.primary or "-")
        everything = sum(counts.values())
        return ", ".join(f"{v} ({100 * n / everything:.0f} %)" for v, n in sorted(counts.items(), key=lambda kv: kv[0]))

    def _on_lines(self, version: str, lines: list[str], at: float) -> None:
        self.sink.add_lines(at, lines)
        for line in lines:
            if '"_aws"' in line:  # EMF: only the datapoints, for the alarms
                obj = parse_line(line)
                if obj is not None:
                    # both dimension sets: per version (gating alarms) and per environment (service alarms)
                    for key, value, _ in parse_emf(obj, names=self._alarm_metrics):
                        self.metrics.add(key, at, value)
                    continue
            self._log(line if line.startswith("{") else f"[v{version}] {line}")

    def _log(self, line: str) -> None:
        logs = self._logs
        logs.append(line)
        if len(logs) > 20_000:
            del logs[:10_000]

    def logs(self, limit: int = 100) -> list[str]:
        return self._logs[-limit:]

    # -- workers ------------------------------------------------------------------------------
    def _worker(self, version: str) -> VersionWorker:
        worker = self._workers.get(version)
        if worker is not None and worker.alive:
            return worker
        with self._worker_lock:
            worker = self._workers.get(version)
            if worker is not None and worker.alive:
                return worker
            if worker is not None:  # crashed, or every connection retired by timeouts: a fresh one
                worker.discard()
                self._event("worker", f"version {version}: worker process replaced (it crashed or timed out)")
            record = self.state.version(version)
            if record is None:
                raise DeployerError(f"function {self.model.function.name} has no version {version}")
            python = interpreter_for(self.model.function.python)
            if python is None:
                self._event("warning", f"no Python {self.model.function.python} on this machine: version {version} "
                            f"runs on {sys.version_info.major}.{sys.version_info.minor} with dependencies built for it; "
                            f"install Python {self.model.function.python} to emulate the exact runtime")
            worker = worker_for_version(self.model, record.version, Path(record.bundle_dir), record.environment,
                                        moto_endpoint=self.moto_endpoint, handler=self._handler, python=python,
                                        threads=self._threads, log_dir=self.state_dir / "logs")
            worker.start()
            self._workers[version] = worker
            return worker

    # -- routing ------------------------------------------------------------------------------
    def _apply_weights(self, primary: str, additional: dict[str, float]) -> None:
        self.runtime.set_routing(primary, additional)
        with self._lock:
            self.state.primary, self.state.additional = primary, dict(additional)
        self._persist()
        try:
            self.aws.set_alias(primary, additional)
        except Exception as exc:
            self._event("warning", f"could not update the alias in moto: {exc}")

    # -- restore ------------------------------------------------------------------------------
    def _restore(self) -> None:
        saved = load_state(self.state_dir)
        if saved is None or (saved.agent, saved.environment) != (self.model.agent, self.model.environment):
            self._persist()
            return
        self.state = saved
        for record in saved.versions:
            number = self.aws.publish_version(Path(record.bundle_dir), record.environment, record.description)
            if number != record.version:
                raise DeployerError(f"restoring version {record.version} into moto gave version {number}",
                                    hint=f"remove {self.state_dir} to start from scratch")
        rollout = RolloutState.from_dict(saved.rollout) if saved.rollout else None
        if rollout is not None and rollout.status == "in_progress":
            where = rollout.describe_step()
            if self._on_restart == "resume" and rollout.stable_version is not None:
                self.restart_notice = (f"the emulator stopped during the rollout of version {rollout.version} "
                                       f"({where}); resuming it from that step")
                self._event("restart", self.restart_notice, version=rollout.version)
                self.runtime.set_routing(saved.primary, saved.additional)
                self._start_engine(rollout)
                return
            stable = rollout.stable_version or rollout.version
            rollout.status, rollout.percent, rollout.finished_at = "rolled_back", 0.0, self.clock.now()
            rollout.reason = (f"the emulator stopped during the rollout of version {rollout.version} ({where}); "
                              f"rolled back to version {stable} on restart")
            self.restart_notice = rollout.reason
            self.state.rollout = rollout.to_dict()
            self._event("restart", rollout.reason, version=rollout.version, stable_version=stable)
            self._apply_weights(stable, {})
            self.notifier.notify(self.model.rollout.notify, event="rollout", subject=f"Rollout of version "
                                 f"{rollout.version} rolled back on restart", message=rollout.reason,
                                 version=rollout.version, stable_version=stable, state="ROLLED_BACK")
        elif saved.primary is not None:
            self._event("restart", f"emulator restarted; alias {self.model.alias} -> version {saved.primary}"
                        + (f" + {saved.additional}" if saved.additional else ""))
            self._apply_weights(saved.primary, saved.additional)
        if self.state.primary is not None:
            self._watch(self.state.primary, "emulator restarted")
        self._persist()

    # -- deploy -------------------------------------------------------------------------------
    def deploy(self, model: DeploymentModel | None = None, *, faults: Faults | None = None, wait: bool = False,
               timeout_s: float | None = None, description: str = "") -> DeployResult:
        """Publish a new version when code or configuration changed, and start its rollout."""
        if not self._bound:
            if model is None:
                raise DeployerError("nothing to deploy: pass a DeploymentModel")
            self._bind(model)
        model = model or self.model
        if (model.agent, model.environment) != (self.model.agent, self.model.environment):
            raise DeployerError(f"this emulator runs {self.model.agent}/{self.model.environment}, not "
                                f"{model.agent}/{model.environment}", hint="start another emulator for it")
        faults = faults or Faults()
        with self._deploy_lock:  # one deploy at a time; status and traffic go on meanwhile
            if self._engine is not None and not self._engine.state.done:
                s = self._engine.state
                raise DeployerError(f"a rollout of version {s.version} is in progress ({s.describe_step()})",
                                    hint="wait for it, or run `deployer rollback --env local`")
            changed = (model.alarms, model.notifications) != (self.model.alarms, self.model.notifications)
            self.model = model
            self.aws.model = model
            self.notifier.model = model
            if changed:  # the spec's alarms or targets changed: create what is new, restart the states
                self.aws.create_static()
                self.evaluator.reset_states(model.alarms, self.clock.now())
                self._alarm_metrics = frozenset({"Invocations", "Errors", *(a.metric for a in model.alarms)})
            build = self.state_dir / "builds" / uuid.uuid4().hex[:8]
            try:
                bundle = self._build(model, build)
            except BaseException:
                shutil.rmtree(build, ignore_errors=True)
                raise
            environment = {**model.function.environment, **faults.environment()}
            code_hash = hash_tree(bundle)
            config = config_hash(model, environment)
            latest = self.state.latest
            if latest is not None and (latest.code_hash, latest.config_hash) == (code_hash, config):
                shutil.rmtree(build, ignore_errors=True)
                message = f"no changes: code and configuration match version {latest.version}"
                self._event("deploy", message, version=latest.version)
                return DeployResult(latest.version, False, message, self.state.rollout)
            description = description or f"spec {model.spec_hash[:12]} code {code_hash}"
            number = self.aws.publish_version(bundle, environment, description)
            final = self.state_dir / "versions" / number
            shutil.rmtree(final, ignore_errors=True)
            final.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(build), str(final))
            bundle_dir = final / bundle.resolve().relative_to(build.resolve())
            record = VersionRecord(version=number, bundle_dir=str(bundle_dir), environment=environment,
                                   code_hash=code_hash, config_hash=config, spec_hash=model.spec_hash,
                                   created_at=self.clock.now(), faults=faults.as_dict(), model=model.to_dict(),
                                   description=description)
            with self._lock:
                self.state.versions.append(record)
            self._persist()
            self._event("publish", f"published version {number} ({description})"
                        + (f" with faults {faults.as_dict()}" if faults.as_dict() else ""), version=number)
            self._deploy_record(record)
            # warm the version before any traffic shifts to it (the emulator's provisioned concurrency):
            # its agent loads during init, so no cold start is measured in a bake, and one that cannot
            # load fails the deploy, not the traffic
            warm = self._worker(number)
            self._event("warm", f"version {number}: execution environment initialized in {warm.init_ms:.0f} ms "
                        "(agent loaded before any traffic)", version=number, init_ms=round(warm.init_ms, 1))
            stable = self.state.primary
            if stable is None:
                rollout = RolloutEngine.plan(number, None, (RolloutStep(100.0, 0),), self.clock.now())
                rollout.status, rollout.step_index, rollout.percent = "succeeded", 0, 100.0
                rollout.finished_at = self.clock.now()
                self.state.rollout = rollout.to_dict()
                self._apply_weights(number, {})
                self._set_stable(number)
                self._watch(number, f"first version {number}")
                message = f"version {number} is the first version: 100 % at once (nothing to shift from)"
                self._event("complete", message, version=number)
                return DeployResult(number, True, message, self.state.rollout)
            rollout = RolloutEngine.plan(number, stable, model.rollout.steps, self.clock.now())
            self._watch(number, f"deploy of version {number}")
            self._start_engine(rollout)
        if wait:
            self.wait_for_rollout(timeout_s)
        return DeployResult(number, True, f"version {number} published; rollout started", self.rollout())

    def _deploy_record(self, record: VersionRecord) -> None:
        ts = int(time.time() * 1000)
        item = {"request_id": f"deploy#{self.model.environment}#{record.version}", "outcome": "deploy", "ts": ts,
                "version": record.version, "spec_hash": record.spec_hash, "code_hash": record.code_hash,
                "spec": json.dumps(record.model, default=str), "faults": json.dumps(record.faults)}
        self.sink.add_item(item)

    def _watch(self, version: str, why: str) -> None:
        """Point the alarms at `version`, in the evaluator and (in order, off this thread) in moto."""
        reason = f"{why}: alarms now watch version {version}"
        self.evaluator.watch(version, self.clock.now(), reason=reason)

        def write() -> None:
            self.aws.watch_version(version)
            for alarm in self.model.alarms:
                if alarm.scope == "version":
                    self.aws.set_alarm_state(alarm.name, "INSUFFICIENT_DATA", reason)

        self._moto_writes.submit(write)

    def _set_stable(self, version: str) -> None:
        with self._lock:
            self.state.stable_version = version
            if not self.state.stable_history or self.state.stable_history[-1] != version:
                self.state.stable_history.append(version)

    def _start_engine(self, rollout: RolloutState) -> None:
        engine = RolloutEngine(
            rollout, self.model.rollout, clock=self.clock, check_alarms=self._check_gating, traffic=self._traffic,
            apply_weights=self._apply_weights, on_change=self._on_rollout_change,
        )
        self._engine = engine
        with self._lock:
            self.state.rollout = rollout.to_dict()
        self._engine_thread = threading.Thread(target=self._run_engine, args=(engine,), name="rollout", daemon=True)
        self._engine_thread.start()

    def _traffic(self, version: str, start: float, end: float, period_s: int) -> list[tuple[float, float]]:
        """The version's completed requests per period, from its EMF Invocations (as CloudWatch sums them)."""
        key = MetricKey.of(METRIC_NAMESPACE, "Invocations",
                           {"Agent": self.model.agent, "Environment": self.model.environment, "Version": version})
        return self.metrics.sums(key, start, end, period_s)

    def _run_engine(self, engine: RolloutEngine) -> None:
        state = engine.run()
        if state.status == "succeeded":
            self._set_stable(state.version)
        # after a rollback the version-scoped (gating) alarms keep watching the rolled-back version, as
        # the deployed ones do in AWS until the next deploy; the service-scoped alerts that page people
        # watch every version, so they watch the one that serves the traffic
        with self._lock:
            self.state.rollout = state.to_dict()
        self._persist()
        if state.done and self.model.rollout.notify:
            word = "succeeded" if state.status == "succeeded" else "rolled back"
            self.notifier.notify(self.model.rollout.notify, event="rollout",
                                 subject=f"Rollout of version {state.version} {word}", message=state.reason or word,
                                 version=state.version, stable_version=state.stable_version,
                                 state="OK" if state.status == "succeeded" else "ROLLED_BACK")

    def _check_gating(self, at: float) -> list[tuple[str, str]]:
        for alarm in self.evaluator.alarms:
            if alarm.name in self.model.rollout.gating_alarms:
                self.evaluator.evaluate(alarm, at)
        return [(s.name, s.reason) for s in self.evaluator.firing(self.model.rollout.gating_alarms)]

    def _on_rollout_change(self, state: RolloutState, event: dict[str, Any]) -> None:
        with self._lock:
            self.state.rollout = state.to_dict()
            self._record({**event, "time": iso(event["at"])})
        self._persist()

    def rollout(self) -> dict[str, Any] | None:
        engine = self._engine
        with self._lock:
            if engine is not None:
                return engine.state.to_dict()
            return dict(self.state.rollout) if self.state.rollout else None

    def wait_for_rollout(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """Block until the current rollout is finished (or `timeout_s` real seconds passed)."""
        thread = self._engine_thread
        if thread is not None:
            if timeout_s is None:
                emulated = self._engine.policy.max_duration_s if self._engine else 0
                timeout_s = emulated / (self.clock.time_scale if self.clock.time_scale != float("inf") else 1e9) + 30
            thread.join(timeout_s)
            if thread.is_alive():
                raise DeployerError(f"the rollout is still running after {timeout_s:.0f} s")
        return self.rollout()

    # -- operations ---------------------------------------------------------------------------
    def rollback(self, *, reason: str = "manual rollback", to_version: str | None = None,
                 who: str | None = None) -> dict[str, Any]:
        """All traffic back to the stable (or named) version at once; stops a rollout in progress."""
        who = who or "local user"
        engine, thread = self._engine, self._engine_thread
        if engine is not None and not engine.state.done and to_version in (None, engine.state.stable_version):
            engine.abort(f"{reason} (by {who})", kind="manual")
            if thread is not None:
                thread.join(30)
            return {"rolled_back": True, "version": engine.state.stable_version, "stopped_rollout": engine.state.version,
                    "reason": engine.state.reason}
        if engine is not None and not engine.state.done:
            engine.abort(f"{reason} (by {who})", kind="manual")
            if thread is not None:
                thread.join(30)
        with self._lock:
            current = self.state.primary
            history = [v for v in self.state.stable_history if v != current]
            target = to_version or (history[-1] if history else None)
            if target is None:
                raise DeployerError("no previous version to roll back to: "
                                    + (f"version {current} is the only one deployed" if current else "nothing is deployed"))
            if self.state.version(target) is None:
                raise DeployerError(f"no version {target}; versions: {', '.join(v.version for v in self.state.versions)}")
        self._apply_weights(target, {})
        self._set_stable(target)
        self._watch(target, f"rollback to version {target}")
        message = f"rolled back to version {target} (from {current}) by {who}: {reason}"
        self._event("rollback", message, version=target, previous=current, who=who, reason=reason)
        self._persist()
        return {"rolled_back": True, "version": target, "previous": current, "reason": reason, "who": who}

    def status(self) -> dict[str, Any]:
        with self._lock:
            versions = []
            counters = self.runtime.all_counters()
            for v in self.state.versions:
                c = counters.get(v.version)
                versions.append({"version": v.version, "created_at": iso(v.created_at), "code_hash": v.code_hash,
                                 "spec_hash": v.spec_hash[:12], "faults": v.faults, "description": v.description,
                                 "requests": c.requests if c else 0, "errors": c.errors if c else 0})
            return {
                "agent": self.model.agent, "environment": self.model.environment,
                "function": self.model.function.name, "alias": self.model.alias,
                "endpoints": self.endpoints(), "now": iso(self.clock.now()),
                "versions": versions,
                "routing": {"primary": self.state.primary, "additional": dict(self.state.additional)},
                "stable_version": self.state.stable_version,
                "rollout": self.rollout(),
                "alarms": [{"name": s.name, "state": s.state, "reason": s.reason, "version": s.version,
                            "updated_at": iso(s.updated_at) if s.updated_at else None,
                            "datapoints": s.datapoints} for s in self.evaluator.status()],
                "restart_notice": self.restart_notice,
            }

    def invoke(self, action: str, payload: Any = None, *, replay: bool = False, version: str | None = None,
               timeout_s: float = 30.0) -> dict[str, Any]:
        """One request through the gateway, as a client would send it."""
        body = json.dumps({} if payload is None else payload).encode()
        return gateway_request(self.gateway_url, action, body, replay=replay, version=version, timeout_s=timeout_s)

    def flush(self) -> dict[str, Any]:
        """Wait until every request so far is in the request log and the CloudWatch mirror."""
        return self.sink.stats()

    def alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.notifier.records(limit)
