"""What follows an alarm evaluation, in the order AWS does it.

`AlarmEvaluator` (`deployer.local.behaviour.alarms`) decides the states; `AlarmWiring` runs it and
acts on each transition:

1. a gating alarm going to ALARM on the version a rollout is shifting to stops that rollout first
   (`on_gating_alarm`): rolling back must not wait for anything below;
2. the state goes into moto (`SetAlarmState`, off this thread, in order);
3. the transition is a timeline event;
4. to ALARM, and back to OK from ALARM, the alarm's targets are notified. A service alarm watches
   every version: its notice says which versions served the requests it judged.

`watch` points the version-scoped alarms at a version, as a deploy does to their Version
dimension; `check_gating` is the rollout engine's alarm check.

The evaluator thread survives errors: one is said (status, events.log) and evaluation goes on at
the next tick. A write moto refuses is kept, in order, and retried (`retry`, which the emulator's
recovery loop calls) until moto takes it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from deployer.compiled import METRIC_NAMESPACE, DeploymentModel
from deployer.local.behaviour.alarms import AlarmEvaluator, LowSamplePolicy, Transition
from deployer.local.behaviour.clock import Clock, iso
from deployer.local.behaviour.metrics import MetricStore
from deployer.local.behaviour.notify import Notifier
from deployer.local.state.moto_state import AwsState
from deployer.local.state.store import StateStore


class AlarmWiring:
    """Runs the alarm evaluator and wires its transitions to the rollout, moto, the timeline and notifications."""

    def __init__(self, *, model: Callable[[], DeploymentModel], metrics: MetricStore, aws: AwsState, notifier: Notifier,
                 store: StateStore, clock: Clock, low_sample: LowSamplePolicy | None,
                 on_gating_alarm: Callable[[Transition], None]) -> None:
        self._model = model
        self._metrics = metrics
        self._aws = aws
        self._notifier = notifier
        self._store = store
        self._clock = clock
        self._on_gating_alarm = on_gating_alarm
        self._moto_writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moto-writes")
        self._unwritten: list[tuple[str, Callable[[], Any]]] = []  # moto writes not taken yet, in order
        self._unwritten_lock = threading.Lock()
        self._retry_lock = threading.Lock()
        m = model()
        self.evaluator = AlarmEvaluator(m.alarms, metrics, agent=m.agent, environment=m.environment,
                                        evaluate_low_sample_count=low_sample, on_transition=self.on_transition)

    def run(self, stop: threading.Event) -> None:
        """Evaluate every alarm each tick until `stop` is set (the emulator's evaluator thread).

        An error is said and the evaluation goes on (from the next tick, after a second)."""
        while not stop.is_set():
            try:
                self.evaluator.run(self._clock, stop, prune=self._after_tick)
                return
            except Exception as exc:
                self._store.health.failed("alarms", "evaluating the alarms", exc)
                stop.wait(1.0)

    def _after_tick(self, at: float) -> None:
        self._metrics.prune(at)
        self._store.health.ok("alarms")

    def _to_moto(self, what: str, write: Callable[[], Any]) -> None:
        """Write into moto off this thread, in order; what moto refuses is kept for `retry`."""
        with self._unwritten_lock:
            self._unwritten.append((what, write))
            del self._unwritten[:-1000]  # the newest states win anyway
        self._moto_writes.submit(self.retry)

    def retry(self) -> bool:
        """Write what moto has not taken yet, oldest first (one writer at a time); False when it still refuses."""
        with self._retry_lock:
            while True:
                with self._unwritten_lock:
                    if not self._unwritten:
                        break
                    what, write = self._unwritten[0]
                try:
                    write()
                except Exception as exc:
                    self._store.health.failed("moto-alarms", what, exc)
                    return False
                with self._unwritten_lock:
                    if self._unwritten and self._unwritten[0][1] is write:
                        self._unwritten.pop(0)
        self._store.health.ok("moto-alarms")
        return True

    def on_transition(self, t: Transition) -> None:
        self._on_gating_alarm(t)  # first: rolling back must not wait
        # a service alarm watches every version: say which ones served the requests it judged
        version = t.version if t.version is not None else self.served_in(t.alarm, t.at)
        data = {"version": version, "at": iso(t.at)}
        self._to_moto(f"setting the state of alarm {t.alarm} in moto",
                      lambda: self._aws.set_alarm_state(t.alarm, t.new, t.reason, data))
        self._store.event("alarm", f"alarm {t.alarm}: {t.old} -> {t.new} (version {version}): {t.reason}",
                          alarm=t.alarm, state=t.new, previous_state=t.old, version=version,
                          gates_rollout=t.gates_rollout)
        if t.new == "ALARM" or (t.new == "OK" and t.old == "ALARM"):
            model = self._model()
            subject = f"{t.new}: {t.alarm} on {model.agent} ({model.environment})"
            self._notifier.notify(t.notify, event="alarm", subject=subject, alarm=t.alarm, state=t.new,
                                  previous_state=t.old, reason=t.reason, version=version, severity=t.severity,
                                  kind=next((a.kind for a in model.alarms if a.name == t.alarm), None))

    def served_in(self, alarm_name: str, at: float) -> str:
        """The versions that served the requests of an alarm's last window, with their shares:
        "1 (81 %), 2 (19 %)", or one version alone."""
        alarm = self._model().alarm(alarm_name)
        start = at - (alarm.window_s if alarm else 60)
        counts = self._metrics.totals_by(METRIC_NAMESPACE, "Invocations", "Version", start, at)
        if len(counts) < 2:
            return next(iter(counts), self._store.state.primary or "-")
        everything = sum(counts.values())
        return ", ".join(f"{v} ({100 * n / everything:.0f} %)" for v, n in sorted(counts.items(), key=lambda kv: kv[0]))

    def watch(self, version: str, why: str) -> None:
        """Point the alarms at `version`, in the evaluator and (in order, off this thread) in moto."""
        reason = f"{why}: alarms now watch version {version}"
        self.evaluator.watch(version, self._clock.now(), reason=reason)

        def write() -> None:
            self._aws.watch_version(version)
            for alarm in self._model().alarms:
                if alarm.scope == "version":
                    self._aws.set_alarm_state(alarm.name, "INSUFFICIENT_DATA", reason)

        self._to_moto(f"pointing the alarms at version {version} in moto", write)

    def check_gating(self, at: float) -> list[tuple[str, str]]:
        """Evaluate the gating alarms at `at`; the (name, reason) of those in ALARM."""
        gating = self._model().rollout.gating_alarms
        for alarm in self.evaluator.alarms:
            if alarm.name in gating:
                self.evaluator.evaluate(alarm, at)
        return [(s.name, s.reason) for s in self.evaluator.firing(gating)]

    def reset(self, model: DeploymentModel) -> None:
        """The spec's alarms changed: evaluate the new set, every state back to the start."""
        self.evaluator.reset_states(model.alarms, self._clock.now())

    def close(self) -> None:
        """Wait for the moto writes already queued."""
        self._moto_writes.shutdown(wait=True)
