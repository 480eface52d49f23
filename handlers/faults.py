"""Fault injection for rollback drills and load-test tests, read once at cold start.

Function environment variables (none set = no effect and no per-request cost):

- `DEPLOYER_FAULT_ERROR_RATE` (0..1): that share of requests raise `InjectedFault` (a 500).
- `DEPLOYER_FAULT_LATENCY_MS`: sleep this long inside the action (counts toward its timeout).
- `DEPLOYER_FAULT_COST_MULTIPLIER`: multiply each request's reported cost.
- `DEPLOYER_FAULT_LEAK_KB`: retain this many KB per request (a memory leak to find).
- `DEPLOYER_FAULT_CONFUSE` (`field:a=b`): answers whose `field` is `a` say `b` instead (a model
  that confuses two classes: fast, error-free and confident, and wrong).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import random
    from collections.abc import Mapping
    from typing import Any

ERROR_RATE = "DEPLOYER_FAULT_ERROR_RATE"
LATENCY_MS = "DEPLOYER_FAULT_LATENCY_MS"
COST_MULTIPLIER = "DEPLOYER_FAULT_COST_MULTIPLIER"
LEAK_KB = "DEPLOYER_FAULT_LEAK_KB"
CONFUSE = "DEPLOYER_FAULT_CONFUSE"
FAULT_VARIABLES = (ERROR_RATE, LATENCY_MS, COST_MULTIPLIER, LEAK_KB, CONFUSE)


class InjectedFault(RuntimeError):
    """The error `DEPLOYER_FAULT_ERROR_RATE` raises."""


_leaked: list[bytearray] = []


class Faults:
    __slots__ = ("confuse", "cost_multiplier", "error_rate", "latency_ms", "leak_kb")

    def __init__(
        self, error_rate: float = 0.0, latency_ms: float = 0.0, cost_multiplier: float = 1.0, leak_kb: int = 0,
        confuse: tuple[str, str, str] | None = None,
    ) -> None:
        self.error_rate = error_rate
        self.latency_ms = latency_ms
        self.cost_multiplier = cost_multiplier
        self.leak_kb = leak_kb
        self.confuse = confuse  # (field, from, to)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Faults | None:
        """The faults configured in `environ` (default `os.environ`); None when there are none."""
        env = os.environ if environ is None else environ
        if not any(env.get(name) for name in FAULT_VARIABLES):
            return None
        return cls(
            error_rate=min(1.0, max(0.0, float(env.get(ERROR_RATE) or 0))),
            latency_ms=max(0.0, float(env.get(LATENCY_MS) or 0)),
            cost_multiplier=float(env.get(COST_MULTIPLIER) or 1),
            leak_kb=max(0, int(float(env.get(LEAK_KB) or 0))),
            confuse=parse_confusion(env.get(CONFUSE) or ""),
        )

    def before_action(self, rng: random.Random) -> None:
        """Called inside the action's deadline: leak, sleep, maybe raise."""
        if self.leak_kb:
            # Filled, not zeroed: a zeroed block can stay untouched pages that never count as resident.
            _leaked.append(bytearray(b"\xa5") * (self.leak_kb * 1024))
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        if self.error_rate and rng.random() < self.error_rate:
            raise InjectedFault(f"injected fault ({ERROR_RATE}={self.error_rate})")


    def after_action(self, output: Any) -> Any:
        """The answer as the faulty model gives it (a confused class swapped)."""
        if self.confuse is None or not isinstance(output, dict):
            return output
        field, wrong, instead = self.confuse
        return {**output, field: instead} if output.get(field) == wrong else output


def parse_confusion(text: str) -> tuple[str, str, str] | None:
    """`team:cards=transfers` -> ("team", "cards", "transfers"); None when empty or malformed."""
    field, _, swap = text.partition(":")
    wrong, _, instead = swap.partition("=")
    return (field, wrong, instead) if field and wrong and instead else None


def leaked_kb() -> int:
    return sum(len(block) for block in _leaked) // 1024
