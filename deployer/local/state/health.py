"""What is failing in the emulator's background work right now: said once, counted, retried.

A part that cannot do its job (saving `state.json`, writing `alerts.jsonl`, setting moto's alias,
the alarm evaluator or rollout thread hitting an error, the telemetry sink or the request log)
calls `failed(part, what, error)` and carries on: the first failure is a `warning` timeline event
(so it is in `events.log` and on the console of `local up`), later ones are counted. Whoever
retries calls `ok(part)` once it worked again: a `recovered` event ends the problem. `problems()`
is what `status` shows: every part failing now, since when, how often, the last error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from deployer.local.behaviour.clock import iso


@dataclass
class Problem:
    part: str
    what: str
    error: str
    since: float
    failures: int = 1
    ending: bool = field(default=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["ending"]
        return {**data, "since": iso(self.since)}


def describe(error: BaseException | str) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    return error


class Health:
    """The emulator's current problems, one per part."""

    def __init__(self, *, on_event: Callable[..., Any], now: Callable[[], float]) -> None:
        self._on_event = on_event
        self._now = now
        self._lock = threading.Lock()
        self._problems: dict[str, Problem] = {}

    def failed(self, part: str, what: str, error: BaseException | str) -> None:
        """`part` failed at `what`; the caller keeps what it could not do and retries it."""
        text = describe(error)
        with self._lock:
            problem = self._problems.get(part)
            if problem is not None and not problem.ending:
                problem.failures += 1
                problem.error, problem.what = text, what
                return
            self._problems[part] = Problem(part, what, text, self._now())  # (a new one replaces one ending)
        self._on_event("warning", f"{what} failed: {text}; the emulator goes on and retries", part=part, error=text)

    def ok(self, part: str) -> None:
        """`part` works again (a no-op when it was not failing): the `recovered` event is written
        before the problem leaves `problems`, so whoever sees it gone finds the event."""
        with self._lock:
            problem = self._problems.get(part)
            if problem is None or problem.ending:
                return
            problem.ending = True
        self._on_event("recovered", f"{problem.what} works again after {problem.failures} failure(s) since "
                       f"{iso(problem.since)}", part=part)
        with self._lock:
            if self._problems.get(part) is problem:
                del self._problems[part]

    def failing(self, part: str) -> bool:
        with self._lock:
            return part in self._problems

    def problems(self) -> list[dict[str, Any]]:
        with self._lock:
            return [p.to_dict() for p in self._problems.values()]
