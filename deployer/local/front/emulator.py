"""The emulator's library API: `Emulator`, usable as a context manager from tests and scripts.

    with Emulator(model, state_dir=tmp, time_scale=60) as emu:
        emu.deploy()                                   # v1: first version, 100 % at once
        emu.invoke("route", {"text": "hi"})            # through the gateway
        emu.deploy(faults=Faults(error_rate=0.3))      # v2: a config change -> new version, canary
        emu.wait_for_rollout(timeout_s=30)             # rolled back by its alarms
        emu.status(); emu.alerts(); emu.rollback(reason="...")

`Emulator` only wires and starts the pieces, and stops them in order: moto in a child process
(`state.moto_state`), the telemetry sink (`state.sink`), the metric store and the function's log
stream (`behaviour.metrics`, `behaviour.logs`), notifications (`behaviour.notify`), the alarms
(`alarm_wiring`), the gateway with each version's execution environments (`bundles.gateway`, `bundles.workers`),
rollouts (`rollouts`), publishing versions (`versions`), the saved state (`state.store`, `restore`)
and the control API (`control`). Library code never prints; `deployer.commands.local` does.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.local.behaviour.alarms import AlarmEvaluator, LowSamplePolicy, Transition, evaluation_range
from deployer.local.behaviour.clock import Clock, ScaledClock
from deployer.local.behaviour.logs import FunctionLogs, alarm_metrics
from deployer.local.behaviour.metrics import MetricStore
from deployer.local.behaviour.notify import Notifier
from deployer.local.bundles.failures import FailureRecords
from deployer.local.bundles.gateway import FunctionRuntime, Gateway
from deployer.local.bundles.http11 import HttpLimits
from deployer.local.bundles.release import BundleBuilder, DeployResult, Faults, default_bundle_builder
from deployer.local.bundles.workers import WorkerPool
from deployer.local.front.alarm_wiring import AlarmWiring
from deployer.local.front.control import ControlServer
from deployer.local.front.discovery import remove_discovery, write_discovery
from deployer.local.front.recovery import Recovery
from deployer.local.front.restore import RestartPolicy, restore
from deployer.local.front.rollouts import RolloutControl
from deployer.local.front.status import status_view
from deployer.local.front.versions import VersionPublisher
from deployer.local.state.event_log import EVENTS_FILE, EventLog
from deployer.local.state.moto_state import ACCOUNT_ID, AwsState, MotoProcess
from deployer.local.state.sink import TelemetrySink
from deployer.local.state.store import EmulatorState, StateStore
from deployer.ops.replay import call_gateway

__all__ = ["Emulator", "RestartPolicy"]


class Emulator:
    """The local stand-in for the agent's AWS stack. Start it, deploy into it, send it traffic."""

    metrics: MetricStore
    sink: TelemetrySink
    notifier: Notifier
    evaluator: AlarmEvaluator
    runtime: FunctionRuntime
    aws: AwsState
    moto_endpoint: str
    gateway_url: str
    control_url: str

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
        max_environments: int | None = None,
        gateway_limits: HttpLimits | None = None,
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
        self._store = StateStore(self.state_dir, EmulatorState(agent=model.agent if model else "",
                                                               environment=model.environment if model else ""),
                                 event_log=self.event_log, now=self.clock.now)
        self._ports = (gateway_port, control_port, moto_port)
        self._build = bundle_builder or default_bundle_builder
        self._on_restart: RestartPolicy = on_restart
        self._max_environments = max_environments
        self._gateway_limits = gateway_limits
        self._low_sample = evaluate_low_sample_count
        self._advertise = advertise
        self._handler = handler
        self._deploy_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads_started: list[threading.Thread] = []
        self._started = False
        self._bound = False
        self.restart_notice: str | None = None
        # the parts, built when a model is bound (`_bind`)
        self._moto: MotoProcess | None = None
        self._logs: FunctionLogs | None = None
        self._alarms: AlarmWiring | None = None
        self._pool: WorkerPool | None = None
        self._rollouts: RolloutControl | None = None
        self._versions: VersionPublisher | None = None
        self._gateway: Gateway | None = None
        self._control: ControlServer | None = None

    @property
    def model(self) -> DeploymentModel:
        if self._model is None:
            raise DeployerError("the emulator has no deployment model yet: deploy one first")
        return self._model

    @model.setter
    def model(self, value: DeploymentModel) -> None:
        self._model = value

    @property
    def state(self) -> EmulatorState:
        """What the emulator persists: versions, routing, the stable version, the rollout, the timeline."""
        return self._store.state

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
        """Create the model's resources in moto and start every part, in dependency order."""
        assert self._moto is not None
        self._model = m
        store = self._store
        store.state = EmulatorState(agent=m.agent, environment=m.environment)
        self.aws = AwsState(self.moto_endpoint, m)  # clients are built while moto boots
        self._moto.wait_ready()
        self.aws.create_static()
        # raw datapoints for the longest alarm window (plus margin): percentiles need the values;
        # per-minute sums for the longest step a rollout may hold (its traffic count reads them)
        self.metrics = MetricStore(retention_s=max([0, *((evaluation_range(a) + 1) * a.period_s for a in m.alarms)]) + 600.0,
                                   minute_retention_s=max([0, *(s.hold_limit_s for s in m.rollout.steps)]) + 3600.0)
        assert self._moto.loader is not None
        self.sink = TelemetrySink(loader=self._moto.loader, account=ACCOUNT_ID, region=m.region,
                                  table=m.request_log.table_name, ttl_days=m.request_log.ttl_days,
                                  state_dir=self.state_dir, log_path=self.state_dir / "logs" / "sink.log",
                                  health=store.health)
        self.sink.start()
        self.notifier = Notifier(m, publish=self.aws.publish, log_path=self.state_dir / "alerts.jsonl",
                                 now=self.clock.now, report=lambda error: store.health.failed(
                                     "alerts", "writing alerts.jsonl", error) if error else store.health.ok("alerts"))
        self._alarms = AlarmWiring(model=lambda: self.model, metrics=self.metrics, aws=self.aws, notifier=self.notifier,
                                   store=store, clock=self.clock, low_sample=self._low_sample,
                                   on_gating_alarm=self._on_gating_alarm)
        self.evaluator = self._alarms.evaluator
        self._logs = FunctionLogs(self.metrics, forward=self.sink.add_lines, metric_names=alarm_metrics(m.alarms))
        self._pool = WorkerPool(model=lambda: self.model, bundle_of=store.bundle_of, moto_endpoint=self.moto_endpoint,
                                handler=self._handler, log_dir=self.state_dir / "logs", on_event=store.event,
                                max_environments=self._max_environments)
        self.runtime = FunctionRuntime(function_name=m.function.name, region=m.region,
                                       timeout_s=float(m.function.timeout_s), now=self.clock.now,
                                       memory_mb=m.function.memory_mb,
                                       pool=self._pool, on_lines=self._logs.add, records=FailureRecords.for_model(m))
        self._rollouts = RolloutControl(store=store, clock=self.clock, model=lambda: self.model, runtime=self.runtime,
                                        aws=self.aws, metrics=self.metrics, notifier=self.notifier, alarms=self._alarms)
        self._versions = VersionPublisher(store=store, aws=self.aws, build=self._build, pool=self._pool,
                                          sink=self.sink, now=self.clock.now)
        self._gateway = Gateway(self.runtime, port=self._ports[0], limits=self._gateway_limits)
        self._gateway.start()
        self.gateway_url = self._gateway.url
        self.restart_notice = restore(store, model=m, aws=self.aws, rollouts=self._rollouts, alarms=self._alarms,
                                      notifier=self.notifier, sink=self.sink, clock=self.clock,
                                      on_restart=self._on_restart)
        self._spawn(self._evaluate_loop, "alarm-evaluator")
        recovery = Recovery(store=store, event_log=self.event_log, notifier=self.notifier, rollouts=self._rollouts,
                            alarms=self._alarms)
        self._spawn(lambda: recovery.run(self._stop), "recovery")
        self._control = ControlServer(self, port=self._ports[1])
        self._control.start()
        self.control_url = self._control.url
        self._started = self._bound = True
        if self._advertise:
            write_discovery(self.state_dir, self.endpoints())

    def _on_gating_alarm(self, transition: Transition) -> None:
        if self._rollouts is not None:
            self._rollouts.on_alarm(transition)

    def _evaluate_loop(self) -> None:
        if self._alarms is not None:
            self._alarms.run(self._stop)

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads_started.append(thread)

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
        if self._rollouts is not None:
            self._rollouts.stop()
        for server in (self._control, self._gateway):
            if server is not None:
                server.stop()
        for thread in self._threads_started:
            thread.join(timeout=5)
        if self._pool is not None:
            self._pool.stop()
        if self._alarms is not None:
            self._alarms.close()
        sink = getattr(self, "sink", None)
        if sink is not None:
            sink.stop()
        notifier = getattr(self, "notifier", None)
        if notifier is not None:
            notifier.close()
        if self._started:
            self._store.persist()
        if self._advertise:
            remove_discovery(self.state_dir)
        if self._moto is not None:
            self._moto.stop()
        self._started = False
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
        if hasattr(self, "_switch_interval"):
            sys.setswitchinterval(self._switch_interval)

    # -- deploy -------------------------------------------------------------------------------
    def deploy(self, model: DeploymentModel | None = None, *, faults: Faults | None = None, wait: bool = False,
               timeout_s: float | None = None, description: str = "") -> DeployResult:
        """Publish a new version when code or configuration changed, and start its rollout."""
        if not self._bound:
            if model is None:
                raise DeployerError("nothing to deploy: pass a DeploymentModel")
            self._bind(model)
        assert self._rollouts is not None and self._versions is not None
        model = model or self.model
        if (model.agent, model.environment) != (self.model.agent, self.model.environment):
            raise DeployerError(f"this emulator runs {self.model.agent}/{self.model.environment}, not "
                                f"{model.agent}/{model.environment}", hint="start another emulator for it")
        faults = faults or Faults()
        with self._deploy_lock:  # one deploy at a time; status and traffic go on meanwhile
            self._rollouts.ensure_idle()
            self._adopt(model)
            published = self._versions.publish(model, faults, description)
            number = published.record.version
            if not published.created:
                return DeployResult(number, False, published.message, self.state.rollout)
            stable = self.state.primary
            if stable is None:
                return self._rollouts.first_version(number)
            self._rollouts.begin(number, stable, model.rollout.steps)
        if wait:
            self.wait_for_rollout(timeout_s)
        return DeployResult(number, True, f"version {number} published; rollout started", self.rollout())

    def _adopt(self, model: DeploymentModel) -> None:
        """Deploy `model`: when its alarms or targets changed, create what is new and restart the states."""
        assert self._alarms is not None and self._logs is not None
        changed = (model.alarms, model.notifications) != (self.model.alarms, self.model.notifications)
        self.model = model
        self.aws.model = model
        self.notifier.model = model
        if changed:
            self.aws.create_static()
            self._alarms.reset(model)
            self._logs.metric_names = alarm_metrics(model.alarms)

    # -- operations ---------------------------------------------------------------------------
    def rollout(self) -> dict[str, Any] | None:
        return self._rollouts.rollout() if self._rollouts is not None else self._store.saved_rollout()

    def wait_for_rollout(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """Block until the current rollout is finished (or `timeout_s` real seconds passed)."""
        return self._rollouts.wait(timeout_s) if self._rollouts is not None else self.rollout()

    def rollback(self, *, reason: str = "manual rollback", to_version: str | None = None,
                 who: str | None = None) -> dict[str, Any]:
        """All traffic back to the stable (or named) version at once; stops a rollout in progress."""
        if self._rollouts is None:  # no model bound yet, so nothing deployed: rollback_target says so
            self._store.rollback_target(to_version)
            raise DeployerError("no previous version to roll back to: nothing is deployed")
        return self._rollouts.rollback(reason=reason, to_version=to_version, who=who or "local user")

    def status(self) -> dict[str, Any]:
        return status_view(model=self.model, store=self._store, runtime=self.runtime, evaluator=self.evaluator,
                           endpoints=self.endpoints, now=self.clock.now, rollout=self.rollout,
                           restart_notice=self.restart_notice, request_log=self.sink.last)

    def invoke(self, action: str, payload: Any = None, *, replay: bool = False, version: str | None = None,
               timeout_s: float = 30.0) -> dict[str, Any]:
        """One request through the gateway, as a client would send it."""
        body = json.dumps({} if payload is None else payload).encode()
        return call_gateway(self.gateway_url, action, body, replay=replay, version=version, timeout_s=timeout_s).to_dict()

    def flush(self) -> dict[str, Any]:
        """Wait until every request so far is in the request log and the CloudWatch mirror."""
        return self.sink.stats()

    def why_missing(self, request_id: str) -> str | None:
        """Why the request log has no record `request_id` (None when it has one)."""
        return self.sink.why_missing(request_id)

    def alerts(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.notifier.records(limit)

    def logs(self, limit: int = 100) -> list[str]:
        return self._logs.tail(limit) if self._logs is not None else []

    def timeline(self, since: float | None = None) -> list[dict[str, Any]]:
        return self._store.timeline(since)
