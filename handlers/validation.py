"""Input validation from an action's type hints, built on first use and cached.

The request JSON object is the action's keyword arguments. Each action gets one pydantic-core
validator of a typed dict of its parameters (extra keys forbidden, parameters with defaults
optional), so validation is one call into pydantic-core straight from the JSON bytes.

For the hints most actions use (str, int, float, bool, None, Any, Literal, list, dict, optional
ones) the core schema is written here, the one pydantic's `TypeAdapter` generates for them (a
test compares them, and the validators' answers), so only `pydantic_core` is imported: a cold
start does not pay for pydantic's Python layer (~90 ms of the first request). Any other hint
(a model, a dataclass, a date, constraints) goes through `TypeAdapter`, imported then.
pydantic is never imported at module import of the handler.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Literal, NotRequired, Union


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


_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "str"}, int: {"type": "int"}, float: {"type": "float"}, bool: {"type": "bool"},
    type(None): {"type": "none"}, None: {"type": "none"}, Any: {"type": "any"},
}


def core_schema_of(hint: Any) -> dict[str, Any] | None:
    """The pydantic-core schema pydantic generates for `hint`, for the hints written here; else None."""
    try:
        scalar = _SCALARS.get(hint)
    except TypeError:  # an unhashable hint (Annotated with unhashable metadata): pydantic's
        return None
    if scalar is not None:
        return dict(scalar)
    if hint is list:
        return {"type": "list", "items_schema": {"type": "any"}}
    if hint is dict:
        return {"type": "dict", "keys_schema": {"type": "any"}, "values_schema": {"type": "any"}}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and len(args) == 1:
        items = core_schema_of(args[0])
        return None if items is None else {"type": "list", "items_schema": items}
    if origin is dict and len(args) == 2:
        keys, values = core_schema_of(args[0]), core_schema_of(args[1])
        return None if keys is None or values is None else {"type": "dict", "keys_schema": keys, "values_schema": values}
    if origin is Literal and args and all(type(a) in (str, int, bool) for a in args):
        return {"type": "literal", "expected": list(args)}
    if origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = core_schema_of(args[0] if args[1] is type(None) else args[1])
        return None if inner is None else {"type": "nullable", "schema": inner}
    return None


def _typed_dict_schema(title: str, fields: dict[str, tuple[Any, bool]]) -> dict[str, Any] | None:
    """The schema of `TypeAdapter(TypedDict(title, fields))` with `extra="forbid"`, or None."""
    schemas: dict[str, Any] = {}
    for name, (hint, required) in fields.items():
        schema = core_schema_of(hint)
        if schema is None:
            return None
        schemas[name] = {"type": "typed-dict-field", "schema": schema, "required": required}
    return {"type": "typed-dict", "fields": schemas, "computed_fields": [], "extra_behavior": "forbid",
            "config": {"extra_fields_behavior": "forbid", "title": title}}


class InputValidator:
    """Validates a JSON body (bytes/str) or an already parsed object into keyword arguments."""

    def __init__(self, method: Callable[..., Any], action: str) -> None:
        problems = signature_problems(method)
        problems = [p for p in problems if "return type" not in p]
        if problems:
            raise SignatureError(f"action {action!r}: " + "; ".join(problems))
        sig = inspect.signature(method)
        hints = typing.get_type_hints(method, include_extras=True)
        fields = {param.name: (hints[param.name], param.default is param.empty)
                  for param in sig.parameters.values() if param.name not in ("self", "cls")}
        self.known = tuple(fields)
        title = f"{action}_input"
        schema = _typed_dict_schema(title, fields)
        #: "pydantic-core" (the schema written here) or "pydantic" (TypeAdapter, for richer hints).
        self.built_with = "pydantic-core" if schema is not None else "pydantic"
        self._adapter: Any = _core_validator(schema) if schema is not None else _type_adapter(title, fields)
        from pydantic_core import ValidationError  # pydantic's ValidationError is this class

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


def _core_validator(schema: dict[str, Any]) -> Any:
    from pydantic_core import SchemaValidator

    return SchemaValidator(schema)


def _type_adapter(title: str, fields: dict[str, tuple[Any, bool]]) -> Any:
    from pydantic import ConfigDict, TypeAdapter, with_config
    from typing_extensions import TypedDict  # pydantic needs typing_extensions' TypedDict on 3.11

    make_typed_dict: Any = TypedDict
    annotations = {name: hint if required else NotRequired[hint] for name, (hint, required) in fields.items()}
    return TypeAdapter(with_config(ConfigDict(extra="forbid"))(make_typed_dict(title, annotations)))
