"""The Lambda entry point: `handlers.runtime.handler(event, context)`.

One runtime per process. Importing this module reads nothing and imports nothing heavy; on the
first request it reads `deployer_config.json`, imports the agent, builds the model provider and
instantiates the agent. Each request then: dispatch by action -> size check -> validation (from
the action's type hints, built once) -> the action under its deadline -> the response, plus one
request-record log line and one EMF line.
"""

from __future__ import annotations

import _thread
import itertools
import os
import sys
import time
from resource import RUSAGE_SELF, getrusage  # POSIX; Lambda is Linux

from handlers import agent_log as _agent_log
from handlers.actions import ActionRuntime, Reject, apply_policy, logged_input, synchronous
from handlers.deadline import call_with_deadline
from handlers.events import UNSET, Request, error_body, http_response, parse_event
from handlers.telemetry import RequestReport, Telemetry
from handlers.usage import CURRENT_USAGE, ActionTimeout, RequestUsage, cost_usd

# Only what a request needs is imported here; the rest (config parsing, the SDK, pydantic, the
# model provider, redaction patterns) is imported when the runtime is created, on first use.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import random
    from collections.abc import Callable
    from typing import Any, TextIO

    from handlers.config import RuntimeConfig
    from handlers.quality import QualitySignals

_id_state: list[Any] = []


def _reseed_request_ids() -> None:
    _id_state[:] = [os.urandom(8).hex(), itertools.count(1)]


_reseed_request_ids()
os.register_at_fork(after_in_child=_reseed_request_ids)


def _new_request_id() -> str:
    """Unique across processes (a random per-process prefix, reseeded after fork) and cheap (a counter)."""
    prefix, counter = _id_state
    return f"{prefix}{next(counter):016x}"


#: ru_maxrss is in KB on Linux, in bytes on macOS.
_MAXRSS_PER_MB = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0


def _resident_reader() -> Callable[[], float]:
    """Memory used now, in MB: resident pages from /proc (Linux, as in Lambda), else peak RSS.

    Current resident memory, not the peak: a child process inherits its parent's peak (fork then
    exec keeps ru_maxrss), which would hide a leak below it, and a leak shows as a slope only
    when every figure can move. One pread of statm costs about as much as getrusage (~1.5 us).
    """
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)  # /proc/self resolves now: reopened after fork
    except OSError:
        return lambda: getrusage(RUSAGE_SELF).ru_maxrss / _MAXRSS_PER_MB
    page_mb = os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    return lambda: int(os.pread(fd, 64, 0).split()[1]) * page_mb


def _reopen_memory_reader() -> None:
    global _memory_used_mb
    _memory_used_mb = _resident_reader()


_memory_used_mb = _resident_reader()
os.register_at_fork(after_in_child=_reopen_memory_reader)


def _ms(seconds: float) -> float:
    """`seconds` in milliseconds to the microsecond: `round(seconds * 1000, 3)` to within float
    error, in half its time (round with digits goes through a decimal string)."""
    return int(seconds * 1_000_000.0 + 0.5) / 1000


#: Seconds kept back from Lambda's remaining time so that a timed-out action is still answered.
LAMBDA_MARGIN_S = 0.05


class _NotLoaded(Exception):
    """Placeholder until `handlers.validation` is imported on the first request."""


_InputError: type[Exception] = _NotLoaded


class _Loaded:
    __slots__ = ("actions", "agent", "error")

    def __init__(self, actions: dict[str, ActionRuntime], agent: Any = None, error: str | None = None) -> None:
        self.actions = actions
        self.agent = agent
        self.error = error


class Runtime:
    """Runs an agent's actions for Lambda events. Thread-safe; one per process is the norm."""

    def __init__(
        self,
        config: RuntimeConfig,
        *,
        stream: TextIO | None = None,
        environ: dict[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        import random

        from handlers.faults import Faults
        from handlers.redaction import Redactor

        env = os.environ if environ is None else environ
        self.config = config
        self.telemetry = Telemetry(
            agent=config.agent,
            environment=config.environment,
            namespace=config.namespace,
            replay_namespace=config.replay_namespace,
            stream=stream,
        )
        self.faults = Faults.from_environ(env)
        quality = config.raw.get("quality")
        self._quality: QualitySignals | None = None
        if quality:
            from handlers.quality import QualitySignals

            self._quality = QualitySignals(quality, agent=config.agent, environment=config.environment,
                                           namespace=config.namespace)
        self.default_version = env.get("AWS_LAMBDA_FUNCTION_VERSION") or "$LATEST"
        pricing = config.model.get("pricing") or {}
        self.input_per_1k_usd = float(pricing.get("input_per_1k_usd") or 0.0)
        self.output_per_1k_usd = float(pricing.get("output_per_1k_usd") or 0.0)
        self._rng = rng or random.Random()
        top = config.monitoring.get("redaction") or {}
        self._fallback_redactor = Redactor(top.get("builtins") or (), top.get("patterns") or ())
        self._lock = _thread.allocate_lock()
        self._loaded: _Loaded | None = None
        self._to_json: Callable[[Any], bytes] | None = None
        self._to_jsonable: Callable[[Any], Any] | None = None

    # -- cold start -------------------------------------------------------------------------

    def load(self, version: str | None = None) -> _Loaded:
        """Import and instantiate the agent (once). A failure is kept and answered as a 500."""
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is None:
                try:
                    self._loaded = self._load(version or self.default_version)
                except Exception as exc:
                    self._loaded = _Loaded(actions={}, error=f"{type(exc).__name__}: {exc}")
        return self._loaded

    def _load(self, version: str) -> _Loaded:
        global _InputError
        import importlib

        from pydantic_core import to_json, to_jsonable_python

        from handlers.config import resolve_policy
        from handlers.redaction import Redactor
        from handlers.sdk import AgentSettings, agent_actions, instantiate, is_agent, monitor_overrides
        from handlers.validation import InputError

        _InputError = InputError
        self._to_json, self._to_jsonable = to_json, to_jsonable_python
        cfg = self.config
        root = str(cfg.code_root)
        if root not in sys.path:
            sys.path.insert(0, root)
        module = importlib.import_module(cfg.module)
        cls = getattr(module, cfg.class_name, None)
        if cls is None:
            raise ImportError(f"{cfg.module} has no class {cfg.class_name}")
        if not is_agent(cls):
            raise TypeError(f"{cfg.module}:{cfg.class_name} is not marked @agent")
        from handlers.providers import build_provider

        model = build_provider(cfg.model, artifacts_dir=cfg.code_root)
        settings = AgentSettings(
            agent=cfg.agent,
            environment=cfg.environment,
            version=version,
            confidence_threshold=cfg.model.get("confidence_threshold"),
            parameters=dict(cfg.model.get("parameters") or {}),
            artifacts_dir=cfg.code_root,
        )
        instance = instantiate(cls, model=model, settings=settings)
        methods = agent_actions(cls)
        actions: dict[str, ActionRuntime] = {}
        for name, spec in cfg.actions.items():
            method = methods.get(name)
            if method is None:
                raise AttributeError(f"action {name!r} is in the spec but {cfg.class_name} has no @action {name}")
            overrides = monitor_overrides(method)
            policy = resolve_policy(spec.monitoring, overrides.explicit() if overrides else {}, spec.pinned)
            actions[name] = ActionRuntime(
                name=name,
                call=synchronous(getattr(instance, method.__name__)),
                timeout_s=spec.timeout_s,
                max_payload_bytes=spec.max_payload_bytes,
                log_inputs=policy.log_inputs,
                log_outputs=policy.log_outputs,
                log_latency=policy.log_latency,
                log_errors=policy.log_errors,
                sample_rate=policy.sample_rate,
                redactor=Redactor(policy.redaction_builtins, policy.redaction_patterns),
            )
        return _Loaded(actions=actions, agent=instance)

    def warm(self) -> str | None:
        """Load the agent and build every action's input validator now; the load error, if any.

        Also serialize and parse a sample once: pydantic-core sets up its serializer on first use
        (it imports uuid, ~5 ms), which would otherwise land on the first request.
        """
        loaded = self.load()
        for action in loaded.actions.values():
            action.build_validator()
        if self._to_json is not None and self._to_jsonable is not None:
            sample = {"warm": [1, 1.5, True, None, "text"]}
            self._to_json(sample)
            self._to_jsonable(sample)
            logged_input(Request("warm", True, body=b'{"warm": 1}'))
        return loaded.error

    # -- one request ------------------------------------------------------------------------

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        start = time.perf_counter()
        ts_ms = time.time_ns() // 1_000_000
        version = getattr(context, "function_version", None) or self.default_version
        loaded, init_ms = self._loaded, None
        if loaded is None:  # this request loads the agent: a cold start, marked on its record
            loaded = self.load(version)
            init_ms = _ms(time.perf_counter() - start)
        try:
            request = parse_event(event)
        except ValueError as exc:
            request = Request(action="", http=False, data=event)
            rejected: Reject | None = Reject(400, "BadRequest", str(exc))
        else:
            rejected = None
        request_id = request.request_id or getattr(context, "aws_request_id", None) or _new_request_id()
        action = loaded.actions.get(request.action)
        usage: RequestUsage | None = None
        result: Any = UNSET
        output_json = ""
        status, error_type, error_message = 200, None, None
        try:
            if rejected is not None:
                raise rejected
            if loaded.error is not None:
                raise Reject(500, "AgentLoadError", f"the agent could not be loaded: {loaded.error}")
            if action is None:
                known = ", ".join(sorted(loaded.actions)) or "(none)"
                raise Reject(404, "UnknownAction", f"unknown action {request.action!r}; known actions: {known}")
            if request.http and request.method != "POST":
                raise Reject(405, "MethodNotAllowed", f"use POST /{action.name} with a JSON body")
            try:
                kwargs = action.arguments(request)
            except _InputError as exc:
                status_code: int = exc.status  # type: ignore[attr-defined]
                raise Reject(status_code, "BadRequest" if status_code == 400 else "ValidationError",
                              exc.message) from None  # type: ignore[attr-defined]
            timeout = action.timeout_s
            remaining = getattr(context, "get_remaining_time_in_millis", None)
            if remaining is not None:
                timeout = min(timeout, remaining() / 1000 - LAMBDA_MARGIN_S)
            usage = RequestUsage(deadline=time.monotonic() + timeout)
            token = CURRENT_USAGE.set(usage)
            # `self.log` lines carry the request: bound only once an agent logs (one attribute read otherwise)
            log_scope = (_agent_log.enter_request(request_id, action.name, version, self.telemetry.stream)
                         if _agent_log.active else None)
            try:
                if self.faults is None:
                    result = call_with_deadline(action.call, kwargs, timeout)
                else:
                    from functools import partial  # a fault drill only

                    result = call_with_deadline(partial(self._faulty, action.call), kwargs, timeout)
            finally:
                CURRENT_USAGE.reset(token)
                if log_scope is not None:
                    _agent_log.exit_request(log_scope)
            try:
                output_json = self._to_json(result).decode()  # type: ignore[misc]
            except Exception as exc:
                raise Reject(500, "OutputNotSerializable", f"action {action.name!r} returned "
                              f"{type(result).__name__}, which cannot be serialized to JSON: {exc}") from None
        except Reject as reject:
            status, error_type, error_message = reject.status, reject.error_type, reject.message
        except ActionTimeout:
            assert action is not None
            status, error_type = 504, "Timeout"
            error_message = f"action {action.name!r} did not finish within {action.timeout_s:g}s"
        except (Exception, SystemExit) as exc:  # SystemExit: an agent calling sys.exit() still gets a record
            status, error_type = 500, type(exc).__name__
            error_message = (str(exc).strip().splitlines() or [""])[0][:1000] or error_type
        return self._finish(
            start, ts_ms, version, request, request_id, action, usage, status, error_type, error_message,
            result, output_json, context, init_ms,
        )

    def _faulty(self, call: Callable[..., Any], /, **kwargs: Any) -> Any:
        assert self.faults is not None
        self.faults.before_action(self._rng)
        return self.faults.after_action(call(**kwargs))

    def _finish(
        self, start: float, ts_ms: int, version: str, request: Request, request_id: str,
        action: ActionRuntime | None, usage: RequestUsage | None, status: int, error_type: str | None,
        error_message: str | None, result: Any, output_json: str, context: Any, init_ms: float | None,
    ) -> dict[str, Any]:
        latency_ms = _ms(time.perf_counter() - start)
        memory_mb = _memory_used_mb()
        if usage is not None:
            input_tokens, output_tokens, confidence = usage.input_tokens, usage.output_tokens, usage.confidence
        else:
            input_tokens, output_tokens, confidence = 0, 0, None
        billed_memory = getattr(context, "memory_limit_in_mb", None) or self.config.function_memory_mb
        cost = cost_usd(input_tokens, output_tokens, self.input_per_1k_usd, self.output_per_1k_usd,
                        latency_ms, float(billed_memory), self.config.gb_second_usd, self.config.request_usd)
        if self.faults is not None:
            cost *= self.faults.cost_multiplier
        name = action.name if action is not None else request.action
        # positional: this runs on every request, and keyword binding costs ~0.3 us a call
        report = RequestReport(request_id, ts_ms, name, version, status, latency_ms, input_tokens, output_tokens,
                               cost, confidence, memory_mb, error_type, None, None, None, request.replay, True, init_ms)
        apply_policy(report, request, action, error_message, result, self._fallback_redactor, self._rng,
                     self._to_jsonable)
        self.telemetry.emit(report)
        if self._quality is not None and status == 200 and not request.replay:
            answer = self._to_jsonable(result) if self._to_jsonable is not None else result
            quality = self._quality.line(ts_ms, version, answer, confidence)
            if quality is not None:
                self.telemetry.stream.write(quality + "\n")
        if status == 200:
            n_latency, n_cost, n_confidence, n_memory = report.numbers()
            s_id, s_action, s_version = report.strings()
            body = "".join((
                '{"request_id": ', s_id, ', "action": ', s_action, ', "version": ', s_version,
                ', "output": ', output_json,
                ', "usage": {"latency_ms": ', n_latency, ', "input_tokens": ', str(input_tokens),
                ', "output_tokens": ', str(output_tokens), ', "cost_usd": ', n_cost,
                ', "confidence": ', n_confidence, ', "memory_mb": ', n_memory, "}}",
            ))
        else:
            body = error_body(request_id, error_type or "Error", error_message or "")
        if request.http:
            return http_response(status, body, request_id)
        import json

        direct: dict[str, Any] = json.loads(body)
        direct["status"] = status
        return direct


_runtime: Runtime | None = None
_runtime_lock = _thread.allocate_lock()


def get_runtime() -> Runtime:
    """The process's runtime, created from `deployer_config.json` on first use."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                from handlers.config import RuntimeConfig

                _runtime = Runtime(RuntimeConfig.load())
    return _runtime


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda handler (Function URL, API Gateway v2/v1 and direct-invoke events)."""
    runtime = _runtime if _runtime is not None else get_runtime()
    return runtime.handle(event, context)


#: Why the agent could not load during init (provisioned concurrency), for the host to report.
init_error: str | None = None


def _initialize() -> None:
    """With provisioned concurrency Lambda runs init ahead of traffic: load the agent, its model and
    its validators there, so the first request costs what the second does. On demand, init stays
    light and the first request loads them."""
    global init_error
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "provisioned-concurrency":
        return
    try:
        init_error = get_runtime().warm()
    except Exception as exc:  # no config or a broken one: the first request answers it as a 500
        init_error = f"{type(exc).__name__}: {exc}"


_initialize()
