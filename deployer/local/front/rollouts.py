"""The emulator's CodeDeploy: a new version's rollout on its own thread, the alias, rollback.

`RolloutEngine` (`deployer.local.behaviour.rollout`) decides the steps; `RolloutControl` runs it
on a thread and connects it: the weights it sets go to the gateway's routing, the saved state and
moto's alias; its alarm check is `AlarmWiring.check_gating`; its traffic count reads the
candidate's EMF Invocations; its outcome makes the version stable (or not) and is sent to the
rollout's notification targets.

The first version of a function has nothing to shift from: it takes 100 % at once. A rollback
sends all traffic to the stable (or a named) version at once, stopping a rollout in progress.

Failures do not stop anything here. moto refusing the alias leaves the gateway routing as decided,
the problem in `health` and the weights to set again (`sync_alias`, which the recovery loop
calls); an error inside the rollout thread is said and the engine goes on from its step. A
rollback is confirmed by reading moto's alias back: if it does not serve the target alone, the
rollback raises a `DeployerError` saying what it serves (`deployer rollback` exits 1).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from deployer.compiled import METRIC_NAMESPACE, DeploymentModel, RolloutStep
from deployer.errors import DeployerError
from deployer.evaluation.online import VersionSignals
from deployer.local.behaviour.alarms import Transition
from deployer.local.behaviour.clock import Clock, iso
from deployer.local.behaviour.metrics import MetricKey, MetricStore
from deployer.local.behaviour.notify import Notifier
from deployer.local.behaviour.rollout import RolloutEngine, RolloutState
from deployer.local.bundles.gateway import FunctionRuntime
from deployer.local.bundles.release import DeployResult
from deployer.local.front.alarm_wiring import AlarmWiring
from deployer.local.state.moto_state import AwsState
from deployer.local.state.store import StateStore


class RolloutControl:
    """Runs rollouts on a thread, applies alias weights everywhere they live, rolls back."""

    def __init__(self, *, store: StateStore, clock: Clock, model: Callable[[], DeploymentModel],
                 runtime: FunctionRuntime, aws: AwsState, metrics: MetricStore, notifier: Notifier,
                 alarms: AlarmWiring) -> None:
        self._store = store
        self._clock = clock
        self._model = model
        self._runtime = runtime
        self._aws = aws
        self._metrics = metrics
        self._notifier = notifier
        self._alarms = alarms
        self.engine: RolloutEngine | None = None
        self.thread: threading.Thread | None = None
        self._alias_lock = threading.Lock()  # the wanted weights
        self._sync_lock = threading.Lock()  # one moto write of the alias at a time
        self._alias_wanted: tuple[str, dict[str, float]] | None = None  # weights moto has not taken yet

    # -- routing ------------------------------------------------------------------------------
    def apply_weights(self, primary: str, additional: dict[str, float]) -> None:
        """The alias weights, in the gateway, in the saved state and in moto (retried when moto refuses)."""
        self._runtime.set_routing(primary, additional)
        with self._store.lock:
            self._store.state.primary, self._store.state.additional = primary, dict(additional)
        self._store.persist()
        with self._alias_lock:
            self._alias_wanted = (primary, dict(additional))
        self.sync_alias(wait=False)

    def sync_alias(self, *, wait: bool = True) -> bool:
        """Set moto's alias to the weights the gateway routes by, if it has not taken them; False when it
        refused (or, without `wait`, when another thread is setting it: that one or the next retry does)."""
        if not self._sync_lock.acquire(blocking=wait):
            return False
        try:
            with self._alias_lock:
                wanted = self._alias_wanted
            if wanted is None:
                return True
            try:
                self._aws.set_alias(*wanted)
            except Exception as exc:
                self._store.health.failed("alias", f"setting alias {self._model().alias} in moto", exc)
                return False
            with self._alias_lock:
                if self._alias_wanted is wanted:
                    self._alias_wanted = None
        finally:
            self._sync_lock.release()
        self._store.health.ok("alias")
        return True

    def serving(self) -> tuple[str, dict[str, float]] | None:
        """What moto's alias serves, read back: (version, additional weights); None when there is no alias."""
        return self._aws.alias_routing()

    def _all_traffic_to(self, version: str, why: str) -> None:
        """`version` alone serves, is the stable version, and the alarms watch it."""
        self.apply_weights(version, {})
        self._store.set_stable(version)
        self._alarms.watch(version, why)

    # -- starting -----------------------------------------------------------------------------
    def ensure_idle(self) -> None:
        """Refuse a deploy while a rollout is in progress."""
        if self.engine is not None and not self.engine.state.done:
            s = self.engine.state
            raise DeployerError(f"a rollout of version {s.version} is in progress ({s.describe_step()})",
                                hint="wait for it, or run `deployer rollback --env local`")

    def first_version(self, number: str) -> DeployResult:
        """The function's first version: 100 % at once, nothing to shift from."""
        now = self._clock.now()
        rollout = RolloutEngine.plan(number, None, (RolloutStep(100.0, 0),), now)
        rollout.status, rollout.step_index, rollout.percent = "succeeded", 0, 100.0
        rollout.finished_at = self._clock.now()
        self._store.state.rollout = rollout.to_dict()
        self._all_traffic_to(number, f"first version {number}")
        message = f"version {number} is the first version: 100 % at once (nothing to shift from)"
        self._store.event("complete", message, version=number)
        return DeployResult(number, True, message, self._store.state.rollout)

    def begin(self, number: str, stable: str, steps: tuple[RolloutStep, ...]) -> None:
        """Start shifting traffic from `stable` to version `number` along `steps`."""
        rollout = RolloutEngine.plan(number, stable, steps, self._clock.now())
        self._alarms.watch(number, f"deploy of version {number}")
        self.start(rollout)

    def resume(self, rollout: RolloutState, primary: str | None, additional: dict[str, float]) -> None:
        """Go on with a rollout the emulator stopped during, from its step (routing as it was)."""
        self._runtime.set_routing(primary, additional)
        self.start(rollout)

    def start(self, rollout: RolloutState) -> None:
        engine = RolloutEngine(
            rollout, self._model().rollout, clock=self._clock, check_alarms=self._alarms.check_gating,
            traffic=self._traffic, apply_weights=self.apply_weights, on_change=self._on_change,
            signals=self._signals,
        )
        self.engine = engine
        with self._store.lock:
            self._store.state.rollout = rollout.to_dict()
        self.thread = threading.Thread(target=self._run, args=(engine,), name="rollout", daemon=True)
        self.thread.start()

    # -- the engine's callbacks -----------------------------------------------------------------
    def _traffic(self, version: str, start: float, end: float, period_s: int) -> list[tuple[float, float]]:
        """The version's completed requests per period, from its EMF Invocations (as CloudWatch sums them)."""
        model = self._model()
        key = MetricKey.of(METRIC_NAMESPACE, "Invocations",
                           {"Agent": model.agent, "Environment": model.environment, "Version": version})
        return self._metrics.sums(key, start, end, period_s)

    def _signals(self, version: str, start: float, end: float) -> VersionSignals:
        """The version's online quality signals in [start, end) (handlers/quality.py's EMF metrics)."""
        model = self._model()
        dims = {"Agent": model.agent, "Environment": model.environment, "Version": version}
        labels = model.rollout.quality.labels if model.rollout.quality else ()
        answers = {label: sum(v for _, v in self._metrics.sums(
            MetricKey.of(METRIC_NAMESPACE, "Answers", {**dims, "Label": label}), start, end)) for label in labels}
        low = self._metrics.values(MetricKey.of(METRIC_NAMESPACE, "LowConfidence", dims), start, end)
        return VersionSignals(answers, float(sum(low)), float(len(low)))

    def _run(self, engine: RolloutEngine) -> None:
        state = self._supervised(engine)
        if state.status == "succeeded":
            self._store.set_stable(state.version)
        # after a rollback the version-scoped (gating) alarms keep watching the rolled-back version, as
        # the deployed ones do in AWS until the next deploy; the service-scoped alerts that page people
        # watch every version, so they watch the one that serves the traffic
        with self._store.lock:
            self._store.state.rollout = state.to_dict()
        self._store.persist()
        policy = self._model().rollout
        if state.done and policy.notify:
            word = "succeeded" if state.status == "succeeded" else "rolled back"
            self._notifier.notify(policy.notify, event="rollout",
                                  subject=f"Rollout of version {state.version} {word}", message=state.reason or word,
                                  version=state.version, stable_version=state.stable_version,
                                  state="OK" if state.status == "succeeded" else "ROLLED_BACK")

    def _supervised(self, engine: RolloutEngine) -> RolloutState:
        """`engine.run()` until it ends or is halted; an error is said (status, events.log) and the
        engine goes on from its step after a pause (an abort meanwhile rolls back at once)."""
        pause = 0.5
        while True:
            try:
                state = engine.run()
            except Exception as exc:
                self._store.health.failed("rollout", f"the rollout of version {engine.state.version}", exc)
                if engine.wait_abort(pause) and engine.halted:
                    return engine.state
                pause = min(pause * 2, 10.0)
                continue
            self._store.health.ok("rollout")
            return state

    def _on_change(self, state: RolloutState, event: dict[str, Any]) -> None:
        with self._store.lock:
            self._store.state.rollout = state.to_dict()
            self._store.record({**event, "time": iso(event["at"])})
        self._store.persist()

    def on_alarm(self, t: Transition) -> None:
        """A gating alarm in ALARM on the version being rolled out stops its rollout."""
        engine = self.engine
        if engine is not None and t.new == "ALARM" and t.alarm in self._model().rollout.gating_alarms \
                and t.version == engine.state.version and not engine.state.done:
            engine.abort(f"alarm {t.alarm} in ALARM: {t.reason}")

    # -- reading, waiting, stopping -------------------------------------------------------------
    def rollout(self) -> dict[str, Any] | None:
        engine = self.engine
        with self._store.lock:
            if engine is not None:
                return engine.state.to_dict()
            return self._store.saved_rollout()

    def wait(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """Block until the current rollout is finished (or `timeout_s` real seconds passed)."""
        thread = self.thread
        if thread is not None:
            if timeout_s is None:
                emulated = self.engine.policy.max_duration_s if self.engine else 0
                timeout_s = emulated / (self._clock.time_scale if self._clock.time_scale != float("inf") else 1e9) + 30
            thread.join(timeout_s)
            if thread.is_alive():
                raise DeployerError(f"the rollout is still running after {timeout_s:.0f} s")
        return self.rollout()

    def rollback(self, *, reason: str, to_version: str | None, who: str) -> dict[str, Any]:
        """All traffic back to the stable (or named) version at once; stops a rollout in progress.

        Confirmed by moto's alias: a `DeployerError` says what it serves when that is not the target alone.
        """
        engine, thread = self.engine, self.thread
        if engine is not None and not engine.state.done:
            engine.abort(f"{reason} (by {who})", kind="manual")  # the engine rolls back to its stable version
            if thread is not None:
                thread.join(30)
            if not engine.state.done:  # its thread is stuck or gone: end the rollout here
                self._take_over(engine, f"{reason} (by {who})")
            if to_version in (None, engine.state.stable_version):
                return self._confirmed({"rolled_back": True, "version": engine.state.stable_version,
                                        "stopped_rollout": engine.state.version, "reason": engine.state.reason})
        current, target = self._store.rollback_target(to_version)
        self._all_traffic_to(target, f"rollback to version {target}")
        message = f"rolled back to version {target} (from {current}) by {who}: {reason}"
        self._store.event("rollback", message, version=target, previous=current, who=who, reason=reason)
        self._store.persist()
        return self._confirmed({"rolled_back": True, "version": target, "previous": current, "reason": reason,
                                "who": who})

    def _take_over(self, engine: RolloutEngine, reason: str) -> None:
        """Roll back a rollout whose thread did not (it died or hangs): stable version alone, recorded."""
        s = engine.state
        stable = s.stable_version or s.version
        engine.halt()
        self.apply_weights(stable, {})
        s.status, s.percent, s.reason, s.trigger, s.finished_at = "rolled_back", 0.0, reason, "manual", self._clock.now()
        with self._store.lock:
            self._store.state.rollout = s.to_dict()
        self._store.event("rollback", f"rolled back: all traffic on version {stable}; {reason} (the rollout thread "
                          "did not answer)", version=s.version, stable_version=stable, trigger="manual")
        self._store.persist()

    def _confirmed(self, result: dict[str, Any]) -> dict[str, Any]:
        """`result` with what moto's alias serves, read back; raises when it is not the target alone."""
        target = str(result["version"])
        serving: tuple[str, dict[str, float]] | None = None
        held = "unknown"
        for attempt in range(3):
            self.sync_alias()
            try:
                serving = self.serving()
            except Exception as exc:
                serving, held = None, f"unknown (moto does not answer: {exc})"
            else:
                held = "no alias" if serving is None else describe_weights(*serving)
                if serving == (target, {}):
                    break
            with self._alias_lock:  # moto holds something else: set it again
                self._alias_wanted = self._alias_wanted or (target, {})
            time.sleep(0.2 * (attempt + 1))
        result["alias"] = None if serving is None else {"primary": serving[0], "additional": serving[1]}
        if serving != (target, {}):
            alias = self._model().alias
            problem = next((p["error"] for p in self._store.health.problems() if p["part"] == "alias"), None)
            raise DeployerError(
                f"rollback to version {target} not confirmed: moto's alias {alias} serves {held}"
                + (f" (setting it failed: {problem})" if problem else ""),
                hint=f"the emulator's gateway sends all traffic to version {target} and keeps setting the alias; "
                     "see `deployer status --env local`, then run the rollback again")
        return result

    def stop(self) -> None:
        """Halt a rollout in progress (it stays recorded as unfinished) and wait for its thread."""
        if self.engine is not None:
            self.engine.halt()
        if self.thread is not None:
            self.thread.join(timeout=10)


def describe_weights(primary: str, additional: dict[str, float]) -> str:
    """"version 1 (95 %), version 2 (5 %)", or "version 1 alone"."""
    if not additional:
        return f"version {primary} alone"
    share = 1.0 - sum(additional.values())
    return ", ".join([f"version {primary} ({share * 100:g} %)"] + [f"version {v} ({w * 100:g} %)" for v, w in additional.items()])
