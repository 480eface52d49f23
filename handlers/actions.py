"""One action as the runtime runs it, and what its request record may say about a request.

`ActionRuntime` holds an action's call, limits and monitoring policy, and turns a request into
the action's keyword arguments (size check, then the validator built from its type hints, once).
`apply_policy` decides what the request record carries: the input and output per the sampling
policy (errors always), redacted, and the redacted error message.
"""

from __future__ import annotations

import _thread
from _json import encode_basestring as _quote  # the C string encoder of json.dumps(ensure_ascii=False)

from handlers.events import UNSET
from handlers.telemetry import RENDER_LIMIT, render_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    import random
    from collections.abc import Callable
    from typing import Any

    from handlers.events import Request
    from handlers.redaction import Redactor
    from handlers.telemetry import RequestReport


class Reject(Exception):
    """A request answered with an error status before (or instead of) the action's own answer."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message


class ActionRuntime:
    """One action as the runtime runs it."""

    __slots__ = ("call", "lock", "log_errors", "log_inputs", "log_latency", "log_outputs", "max_payload_bytes", "name",
                 "redactor", "sample_rate", "timeout_s", "validator")

    def __init__(
        self, *, name: str, call: Callable[..., Any], timeout_s: float, max_payload_bytes: int, log_inputs: bool,
        log_outputs: bool, log_latency: bool, log_errors: bool, sample_rate: float, redactor: Redactor,
    ) -> None:
        self.name = name
        self.call = call
        self.timeout_s = timeout_s
        self.max_payload_bytes = max_payload_bytes
        self.log_inputs = log_inputs
        self.log_outputs = log_outputs
        self.log_latency = log_latency
        self.log_errors = log_errors
        self.sample_rate = sample_rate
        self.redactor = redactor
        self.validator: Any = None
        self.lock = _thread.allocate_lock()

    def build_validator(self) -> Any:
        """The input validator (built once, thread-safe): at init on provisioned concurrency, else on first use."""
        validator = self.validator
        if validator is None:
            with self.lock:
                if self.validator is None:
                    from handlers.validation import InputValidator

                    self.validator = InputValidator(self.call, self.name)
                validator = self.validator
        return validator

    def arguments(self, request: Request) -> dict[str, Any]:
        validator = self.validator or self.build_validator()
        if request.body is not None:
            body = request.body
            if len(body) * 4 > self.max_payload_bytes and request.size_bytes() > self.max_payload_bytes:
                raise Reject(413, "PayloadTooLarge", self._too_large(request.size_bytes()))
            if not body:
                body = "{}"
            return validator.validate_json(body)  # type: ignore[no-any-return]
        if request.size_bytes() > self.max_payload_bytes:
            raise Reject(413, "PayloadTooLarge", self._too_large(request.size_bytes()))
        return validator.validate_python(request.data)  # type: ignore[no-any-return]

    def _too_large(self, size: int) -> str:
        return f"payload of {size} bytes is over the {self.max_payload_bytes}-byte limit of action {self.name!r}"


def synchronous(method: Callable[..., Any]) -> Callable[..., Any]:
    """`async def` actions run to completion in their own event loop; plain methods as they are."""
    import inspect

    if not inspect.iscoroutinefunction(method):
        return method
    import asyncio
    import functools

    @functools.wraps(method)
    def run(**kwargs: Any) -> Any:
        return asyncio.run(method(**kwargs))

    return run


def logged_input(request: Request) -> Any:
    """The input as the client sent it, as a JSON value (the raw text if it is not JSON).

    The same value as `Request.input_for_log`. The validated arguments cannot stand in for it:
    pydantic coerces them (`"5"` to 5, a float to a Decimal, defaults added), and the record must
    say what was sent. So the body is parsed a second time, with pydantic's own parser (jiter,
    already loaded: ~0.2 us for a small body where `json.loads` takes ~1.6 us). jiter refuses
    a few texts `json.loads` takes (a UTF-8 BOM in bytes, UTF-16, lone surrogate escapes): those
    go to `json.loads`, so the value never differs.
    """
    body = request.body
    if body is None:
        return None if request.data is UNSET else request.data
    try:
        return (_from_json or _json_parser())(body)
    except ValueError:
        return request.input_for_log()


_from_json: Callable[[str | bytes], Any] | None = None


def _json_parser() -> Callable[[str | bytes], Any]:
    global _from_json
    from pydantic_core import from_json  # loaded with the validators: never at import

    _from_json = from_json
    return from_json


def render_redacted(value: Any, redactor: Redactor, to_jsonable: Callable[[Any], Any] | None = None) -> str:
    """`render_value(redactor.redact(value))`, without the redacted copy when `value` is an object of
    strings (action inputs and answers often are): the same text, ~1 us sooner.

    `to_jsonable` (pydantic's, for an action's answer) makes `value` a JSON value first; an object of
    strings already is one (pydantic would return an equal copy), so it is called only otherwise.
    """
    if value.__class__ is dict and value:
        parts = []
        for key, item in value.items():
            if key.__class__ is not str or item.__class__ is not str:
                break
            parts.append(f"{_quote(key)}: {_quote(redactor.field(key, item))}")
        else:
            text = "{" + ", ".join(parts) + "}"
            if len(text) <= RENDER_LIMIT:
                return text
    if to_jsonable is not None:
        value = to_jsonable(value)
    return render_value(redactor.redact(value))


def _render_input(request: Request, redactor: Redactor) -> str:
    """The logged input, redacted and rendered. A body nested deeper than the parsers or the
    redactor can follow (a hostile one: validation has answered 400 by then) is logged as text."""
    try:
        return render_redacted(logged_input(request), redactor)
    except RecursionError:
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        return render_value(redactor.text(repr(request.data) if body is None else body))


def apply_policy(
    report: RequestReport, request: Request, action: ActionRuntime | None, error_message: str | None, result: Any,
    fallback_redactor: Redactor, rng: random.Random, to_jsonable: Callable[[Any], Any] | None,
) -> None:
    """Input/output per the sampling policy (errors always), redacted; error messages too."""
    if action is None:
        report.error_message = None if error_message is None else fallback_redactor.text(error_message)
        report.input_json = _render_input(request, fallback_redactor)
        return
    report.log_latency = action.log_latency
    redactor = action.redactor
    if report.status != 200:
        if error_message is not None and action.log_errors:
            report.error_message = redactor.text(error_message)
        if action.log_inputs:
            report.input_json = _render_input(request, redactor)
        return
    rate = action.sample_rate
    if rate <= 0.0 or (rate < 1.0 and rng.random() >= rate):
        return
    if action.log_inputs:
        report.input_json = _render_input(request, redactor)
    if action.log_outputs and to_jsonable is not None:
        report.output_json = render_redacted(result, redactor, to_jsonable)
