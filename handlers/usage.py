"""Per-request accounting: tokens and confidence of every model call, and the deadline.

The runtime puts a `RequestUsage` in a context variable for the duration of a request; model
providers add to it and read the deadline from it. Outside a request (a notebook) there is none
and nothing is accounted.
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from handlers.sdk import ModelResult


class ActionTimeout(BaseException):
    """The action ran past its deadline.

    A `BaseException`, so that `except Exception` in agent code cannot swallow it.
    """


class RequestUsage:
    """Tokens and confidence of one request's model calls; `deadline` is a `time.monotonic()` value."""

    __slots__ = ("confidence", "deadline", "input_tokens", "model_calls", "output_tokens")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.input_tokens = 0
        self.output_tokens = 0
        self.confidence: float | None = None
        self.model_calls = 0

    def add(self, result: ModelResult) -> None:
        self.model_calls += 1
        self.input_tokens += result.input_tokens
        self.output_tokens += result.output_tokens
        if result.confidence is not None:
            # The request is as confident as its least confident model call.
            self.confidence = (
                result.confidence if self.confidence is None else min(self.confidence, result.confidence)
            )

    def remaining_s(self) -> float:
        return self.deadline - time.monotonic()


CURRENT_USAGE: ContextVar[RequestUsage | None] = ContextVar("deployer_request_usage", default=None)


def current_usage() -> RequestUsage | None:
    return CURRENT_USAGE.get()


def cost_usd(
    input_tokens: int,
    output_tokens: int,
    input_per_1k_usd: float,
    output_per_1k_usd: float,
    billed_ms: float,
    memory_mb: float,
    gb_second_usd: float,
    request_usd: float,
) -> float:
    """Cost of one request: tokens x prices + Lambda GB-seconds + the request fee.

    Lambda bills duration rounded up to the millisecond, at the function's configured memory.
    """
    tokens = input_tokens / 1000 * input_per_1k_usd + output_tokens / 1000 * output_per_1k_usd
    gb_seconds = (memory_mb / 1024) * (max(1, math.ceil(billed_ms)) / 1000)
    return tokens + gb_seconds * gb_second_usd + request_usd
