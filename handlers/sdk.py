"""The agent SDK: `@agent`, `@action`, `@monitor`, `ModelResult`, `AgentSettings`.

The decorators only attach metadata; they never wrap a method, so an agent stays a plain class
that runs in a notebook, under a debugger and in the Lambda runtime alike::

    @agent
    class Router:
        @action
        def route(self, message: str) -> Decision:
            result = self.model.generate(message)
            ...

The runtime creates the instance with `instantiate(cls, model=..., settings=...)`, which sets
`self.model` and `self.settings` *before* `__init__` runs. A plain `Router()` works too; reading
`self.model` then raises a message saying how to provide one. `self.log` is a structlog logger
bound to the current request (`handlers.agent_log`), created on first use.

For type checkers, declare what the runtime provides as annotations (no value)::

    @agent
    class Router:
        model: Model
        settings: AgentSettings

This module imports nothing heavy: it is on the Lambda cold path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, overload, runtime_checkable

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

ACTION_ATTR = "__deployer_action__"
MONITOR_ATTR = "__deployer_monitor__"
AGENT_ATTR = "__deployer_agent__"
MONITOR_FIELDS = ("log_inputs", "log_outputs", "log_latency", "log_errors", "sample_rate")


@dataclass(frozen=True, slots=True)
class ModelResult:
    """What a model call returns: text, optional structured output, usage and confidence."""

    text: str
    output: Any = None
    input_tokens: int = 0
    output_tokens: int = 0
    confidence: float | None = None

    @classmethod
    def coerce(cls, value: Any) -> ModelResult:
        """Accept a `ModelResult`, or a dict with its keys (what `predict` may return)."""
        if isinstance(value, ModelResult):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"text", "output", "input_tokens", "output_tokens", "confidence"}
            if unknown:
                raise TypeError(f"model result has unknown keys {sorted(unknown)}")
            confidence = value.get("confidence")
            return cls(
                text=str(value.get("text", "")),
                output=value.get("output"),
                input_tokens=int(value.get("input_tokens") or 0),
                output_tokens=int(value.get("output_tokens") or 0),
                confidence=None if confidence is None else float(confidence),
            )
        raise TypeError(f"a model must return a ModelResult or a dict, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class AgentSettings:
    """Where and how the agent runs; `artifacts_dir` is the code root holding its artifacts."""

    agent: str = "agent"
    environment: str = "local"
    version: str = "$LATEST"
    confidence_threshold: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts_dir: Path = field(default_factory=Path.cwd)


@runtime_checkable
class Model(Protocol):
    """What `self.model` is: every provider implements this."""

    def generate(self, prompt: Any, **params: Any) -> ModelResult: ...


@dataclass(frozen=True, slots=True)
class ActionInfo:
    """Metadata `@action` attaches to a method."""

    name: str
    method_name: str


@dataclass(frozen=True, slots=True)
class MonitorOverrides:
    """The fields a `@monitor(...)` set explicitly (None = not set)."""

    log_inputs: bool | None = None
    log_outputs: bool | None = None
    log_latency: bool | None = None
    log_errors: bool | None = None
    sample_rate: float | None = None

    def explicit(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in MONITOR_FIELDS if getattr(self, name) is not None}


class _Provided:
    """Class attribute for `model`/`settings`: a clear error when the runtime did not set it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.slot = f"_deployer_{name}"

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return obj.__dict__[self.slot]
        except KeyError:
            cls = type(obj).__name__
            raise AttributeError(
                f"{cls}.{self.name} is not set: the deployer runtime provides it. Outside the runtime "
                f"create the agent with handlers.instantiate({cls}, model=..., settings=...) "
                f"or assign self.{self.name} in __init__"
            ) from None

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


class _Log:
    """Class attribute `log`: the request-bound structlog logger, created on first access.

    The logger is then stored in the instance's `__dict__` under `log`, so later reads are plain
    attribute reads. Creating it imports structlog; agents that never read `self.log` never do.
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        from handlers.agent_log import agent_logger

        settings = obj.__dict__.get("_deployer_settings") or AgentSettings()
        logger = agent_logger(agent=settings.agent, environment=settings.environment)
        obj.__dict__["log"] = logger
        return logger


def _code_objects(cls: type) -> Iterator[Any]:
    for klass in cls.__mro__[:-1]:  # not object
        for value in vars(klass).values():
            func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else getattr(value, "fget", value)
            code = getattr(func, "__code__", None)
            stack = [code] if code is not None else []
            while stack:
                code = stack.pop()
                yield code
                stack.extend(c for c in code.co_consts if isinstance(c, type(code)))


def _uses_log(cls: type) -> bool:
    """Whether the class's code reads an attribute named `log` (then the runtime binds requests for it)."""
    return any("log" in code.co_names for code in _code_objects(cls))


def agent(cls: type[T]) -> type[T]:
    """Mark a class as an agent: its `@action` methods become the deployable actions."""
    if not inspect.isclass(cls):
        raise TypeError("@agent decorates a class")
    for name in ("model", "settings"):
        if name not in cls.__dict__:
            setattr(cls, name, _Provided(name))
    if not hasattr(cls, "log"):
        setattr(cls, "log", _Log())  # noqa: B010  (a descriptor on the user's class)
    setattr(cls, AGENT_ATTR, True)
    return cls


@overload
def action(func: F, /) -> F: ...
@overload
def action(*, name: str | None = None) -> Callable[[F], F]: ...


def action(func: F | None = None, /, *, name: str | None = None) -> F | Callable[[F], F]:
    """Mark a method as an action; `name=` exposes it under another name than the method's."""

    def mark(method: F) -> F:
        if not callable(method):
            raise TypeError("@action decorates a method")
        method_name = getattr(method, "__name__", "action")
        setattr(method, ACTION_ATTR, ActionInfo(name=name or method_name, method_name=method_name))
        return method

    return mark(func) if func is not None else mark


def monitor(
    *,
    log_inputs: bool | None = None,
    log_outputs: bool | None = None,
    log_latency: bool | None = None,
    log_errors: bool | None = None,
    sample_rate: float | None = None,
) -> Callable[[F], F]:
    """Per-action monitoring overrides.

    Precedence: the spec's action-level `monitoring` > `@monitor` > the spec's top-level
    `monitoring`. Only the arguments given here override anything.
    """
    if sample_rate is not None and not 0.0 <= float(sample_rate) <= 1.0:
        raise ValueError(f"@monitor(sample_rate={sample_rate!r}): must be between 0.0 and 1.0")
    overrides = MonitorOverrides(
        log_inputs=log_inputs,
        log_outputs=log_outputs,
        log_latency=log_latency,
        log_errors=log_errors,
        sample_rate=None if sample_rate is None else float(sample_rate),
    )

    def mark(method: F) -> F:
        setattr(method, MONITOR_ATTR, overrides)
        return method

    return mark


def is_agent(cls: Any) -> bool:
    return inspect.isclass(cls) and bool(getattr(cls, AGENT_ATTR, False))


def agent_actions(cls: type) -> dict[str, Callable[..., Any]]:
    """Action name -> the (unbound) method, for every `@action` of an agent class and its bases."""
    found: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            info = getattr(func, ACTION_ATTR, None)
            if isinstance(info, ActionInfo):
                found[info.name] = getattr(cls, attr)
    return found


def monitor_overrides(method: Any) -> MonitorOverrides | None:
    value = getattr(method, MONITOR_ATTR, None)
    return value if isinstance(value, MonitorOverrides) else None


def instantiate(cls: type[T], *, model: Any = None, settings: AgentSettings | None = None) -> T:
    """Create an agent with `self.model`/`self.settings` set before its `__init__` runs."""
    obj = cls.__new__(cls)
    if isinstance(inspect.getattr_static(cls, "log", None), _Log) and _uses_log(cls):
        from handlers import agent_log

        agent_log.expect()
    if model is not None:
        obj.__dict__["_deployer_model"] = model
    obj.__dict__["_deployer_settings"] = settings if settings is not None else AgentSettings()
    init = cls.__init__
    if init is not object.__init__:
        init(obj)
    return obj
