"""Input validation from an action's type hints, built on first use and cached.

The request JSON object is the action's keyword arguments. Each action gets one pydantic
`TypeAdapter` over a `TypedDict` of its parameters (`extra="forbid"`, parameters with defaults
optional), so validation is one call into pydantic-core straight from the JSON bytes. pydantic
is imported here, on the first request, never at module import of the handler.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, NotRequired


class InputError(Exception):
    """The request body is not usable: `status` is 400 (not JSON) or 422 (schema)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignatureError(TypeError):
    """An action whose signature the runtime cannot map a JSON object onto."""


def signature_problems(method: Callable[..., Any]) -> list[str]:
    """What makes an action's signature unusable (empty when fine). Shared with code checks."""
    problems: list[str] = []
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError) as exc:
        return [f"cannot read its signature: {exc}"]
    try:
        hints = typing.get_type_hints(method, include_extras=True)
    except Exception as exc:
        return [f"cannot resolve its type hints: {type(exc).__name__}: {exc}"]
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            problems.append(f"parameter *{param.name} is not allowed: inputs are named JSON fields")
        elif param.kind is param.POSITIONAL_ONLY:
            problems.append(f"parameter {param.name} is positional-only: inputs are passed by name")
        elif param.name not in hints:
            problems.append(f"parameter {param.name} has no type annotation")
    if "return" not in hints:
        problems.append("has no return type annotation")
    return problems


class InputValidator:
    """Validates a JSON body (bytes/str) or an already parsed object into keyword arguments."""

    def __init__(self, method: Callable[..., Any], action: str) -> None:
        problems = signature_problems(method)
        problems = [p for p in problems if "return type" not in p]
        if problems:
            raise SignatureError(f"action {action!r}: " + "; ".join(problems))
        from pydantic import ConfigDict, TypeAdapter, with_config
        from typing_extensions import TypedDict  # pydantic needs typing_extensions' TypedDict on 3.11

        sig = inspect.signature(method)
        hints = typing.get_type_hints(method, include_extras=True)
        fields: dict[str, Any] = {}
        for param in sig.parameters.values():
            if param.name in ("self", "cls"):
                continue
            hint = hints[param.name]
            fields[param.name] = hint if param.default is param.empty else NotRequired[hint]
        self.known = tuple(fields)
        make_typed_dict: Any = TypedDict
        typed = with_config(ConfigDict(extra="forbid"))(make_typed_dict(f"{action}_input", fields))
        self._adapter: Any = TypeAdapter(typed)
        from pydantic import ValidationError

        self._error_type = ValidationError

    def validate_json(self, body: str | bytes) -> dict[str, Any]:
        try:
            value: dict[str, Any] = self._adapter.validate_json(body)
        except self._error_type as exc:
            raise self._translate(exc) from None
        return value

    def validate_python(self, data: Any) -> dict[str, Any]:
        try:
            value: dict[str, Any] = self._adapter.validate_python(data)
        except self._error_type as exc:
            raise self._translate(exc) from None
        return value

    def _translate(self, exc: Any) -> InputError:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "json_invalid" for error in errors):
            detail = errors[0].get("ctx", {}).get("error", errors[0]["msg"])
            return InputError(400, f"request body is not valid JSON: {detail}")
        parts = []
        for error in errors:
            loc = ".".join(str(p) for p in error["loc"])
            if not loc:
                return InputError(422, f"input must be a JSON object with the fields {list(self.known)}")
            msg = error["msg"]
            if error["type"] == "extra_forbidden":
                msg = f"unknown field; known fields: {', '.join(self.known) or '(none)'}"
            elif error["type"] != "missing":
                value = repr(error.get("input"))
                msg = f"{msg} (got {value[:60]}{'...' if len(value) > 60 else ''})"
            parts.append(f"{loc}: {msg}")
        return InputError(422, "invalid input: " + "; ".join(parts))
