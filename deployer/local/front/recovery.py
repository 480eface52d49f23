"""The recovery loop: what failed in the background is done again, once a second, until it works.

Nothing in the emulator stops for a write that failed; each part keeps what it could not do and
says so in `health`. This loop, on its own thread, does it again: `state.json` (when the store is
dirty), the lines `events.log` could not take, `alerts.jsonl`, moto's alias and the alarm states
moto refused. Each part ends its problem itself when the retry works (`Health.ok`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from deployer.local.behaviour.notify import Notifier
from deployer.local.front.alarm_wiring import AlarmWiring
from deployer.local.front.rollouts import RolloutControl
from deployer.local.state.event_log import EventLog
from deployer.local.state.store import StateStore


class Recovery:
    """Retries the emulator's failed background writes every `interval_s` real seconds."""

    def __init__(self, *, store: StateStore, event_log: EventLog, notifier: Notifier, rollouts: RolloutControl,
                 alarms: AlarmWiring, interval_s: float = 1.0) -> None:
        self._store = store
        self._event_log = event_log
        self._interval = interval_s
        self._steps: list[tuple[str, Callable[[], object]]] = [
            ("saving state.json", self._state),
            ("writing events.log", self._events),
            ("writing alerts.jsonl", notifier.retry),
            ("setting the alias in moto", rollouts.sync_alias),
            ("writing alarm states into moto", alarms.retry),
        ]

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval):
            self.tick()

    def tick(self) -> None:
        """Retry every part once; one failing never keeps the others from their turn."""
        for what, step in self._steps:
            try:
                step()
            except Exception as exc:
                self._store.health.failed("recovery", f"retrying: {what}", exc)

    def _state(self) -> None:
        if self._store.dirty:
            self._store.persist()

    def _events(self) -> None:
        health = self._store.health
        if self._event_log.retry():
            health.ok("events")
        else:
            health.failed("events", f"writing {self._event_log.path}",
                          f"{self._event_log.pending} lines wait to be written")
