"""`DeploymentModel.to_dict()` back to a `DeploymentModel`.

The emulator runs in its own process (`deployer local up`); `deployer deploy --env local` sends it
the compiled model as JSON, and the emulator persists the model of every version it published.
This rebuilds the frozen dataclasses from the type hints, so it follows the model as it grows.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from deployer.compiled import DeploymentModel

T = TypeVar("T")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _build(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        for option in options:
            if dataclasses.is_dataclass(option) and isinstance(value, dict):
                return _build(option, value)
        return _build(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(args[0], v) for v in value)
        return tuple(_build(a, v) for a, v in zip(args, value, strict=False))
    if origin is dict:
        _, value_type = get_args(tp)
        return {k: _build(value_type, v) for k, v in value.items()}
    if origin is typing.Literal:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {f.name: _build(hints[f.name], value[f.name]) for f in dataclasses.fields(tp) if f.name in value}
        return tp(**kwargs)
    if tp is float and isinstance(value, int):
        return float(value)
    return value


def model_from_dict(data: dict[str, Any]) -> DeploymentModel:
    model = _build(DeploymentModel, data)
    assert isinstance(model, DeploymentModel)
    return model
