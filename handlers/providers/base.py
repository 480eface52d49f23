"""The provider interface, its errors and the retry loop every remote provider shares.

`generate(prompt, **params)` returns a `ModelResult` and adds its usage to the current request.
Remote calls get a per-attempt timeout of min(model timeout, time left before the action's
deadline), and are retried on 429/5xx/throttling with exponential backoff and full jitter; a
retry never sleeps past the deadline.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from handlers.sdk import ModelResult
from handlers.usage import ActionTimeout, current_usage

#: Statuses worth retrying: rate limited, and server-side failures.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})


class ModelError(Exception):
    """A model call failed; the message says why and what to do."""


class ModelUnavailable(ModelError):
    """The model server cannot be reached at all."""


class ModelTimeout(ModelError):
    """The model did not answer within its timeout."""


class ModelRateLimited(ModelError):
    """The model kept answering 429/throttling after every retry."""


class ModelServerError(ModelError):
    """The model answered with an error status."""


class ModelResponseError(ModelError):
    """The model answered something that is not its protocol (malformed body)."""


class Retryable(Exception):
    """Raised by one attempt when another attempt may succeed."""

    def __init__(self, error: ModelError, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after_s = retry_after_s


class Provider:
    """Base of every provider: accounting, deadline, retries. Subclasses implement `_attempt`."""

    name = "provider"

    def __init__(
        self,
        *,
        model_id: str,
        parameters: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        self.model_id = model_id
        self.parameters = dict(parameters or {})
        self.timeout_s = float(timeout_s)
        self.retries = max(0, int(retries))
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r})"

    def generate(self, prompt: Any, **params: Any) -> ModelResult:
        usage = current_usage()
        merged = {**self.parameters, **params} if params else self.parameters
        result = self._call(prompt, merged, None if usage is None else usage.deadline)
        if usage is not None:
            usage.add(result)
        return result

    def _call(self, prompt: Any, params: dict[str, Any], deadline: float | None) -> ModelResult:
        attempt = 0
        while True:
            timeout = self.timeout_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ActionTimeout()
                timeout = min(timeout, left)
            try:
                return self._attempt(prompt, params, timeout)
            except Retryable as retry:
                if attempt >= self.retries:
                    raise retry.error from None
                pause = self._rng.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))
                if retry.retry_after_s is not None:
                    pause = max(pause, min(retry.retry_after_s, self.backoff_max_s))
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise retry.error from None
                time.sleep(pause)
                attempt += 1

    def _attempt(self, prompt: Any, params: dict[str, Any], timeout_s: float) -> ModelResult:
        raise NotImplementedError


def messages_from(prompt: Any, system: str | None = None) -> list[dict[str, Any]]:
    """A prompt as chat messages: a string is one user message, a list is taken as messages."""
    if isinstance(prompt, list):
        messages = [dict(m) for m in prompt]
    elif isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    else:
        messages = [{"role": "user", "content": json.dumps(prompt, default=str)}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    return messages


def structured(text: str, wanted: bool) -> tuple[Any, float | None]:
    """Parse JSON output when structured output was asked for; its `confidence` if it has one."""
    if not wanted:
        return None, None
    try:
        output = json.loads(text)
    except ValueError as exc:
        raise ModelResponseError(f"the model was asked for JSON but answered {text[:80]!r}: {exc}") from None
    confidence = None
    if isinstance(output, dict):
        value = output.get("confidence")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
            confidence = float(value)
    return output, confidence
