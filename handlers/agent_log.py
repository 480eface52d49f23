"""`self.log`: a structlog logger for agent code, bound to the request being served.

    @agent
    class Router:
        @action
        def route(self, message: str) -> dict[str, str]:
            self.log.info("routed", team="cards")
            # {"agent": "router", "environment": "prod", "team": "cards", "request_id": "...",
            #  "action": "route", "version": "7", "level": "info", "timestamp": "...", "message": "routed"}

The logger is created on the first access to `self.log` (`handlers.sdk`), so an agent that
never logs never imports structlog (~100 ms of cold start). It writes one JSON line per call to
the runtime's output stream (stdout in Lambda), next to the request record and the EMF line.

The event name is rendered as `message`, not `event`: the request record is the line whose
`event` is "request" (the log subscription's filter), and an agent line must never be taken
for one. Lines below `DEPLOYER_LOG_LEVEL` (default `info`) are dropped.

Request binding costs the request path nothing until it is needed: the runtime calls
`enter_request` / `exit_request` only while `active` is true, which `expect()` sets when an
agent's code refers to a `log` attribute (seen when the runtime instantiates it) and which the
first logger sets in any case. `enter_request` keeps the request (and the stream to write to)
in a context variable and, once structlog is loaded, binds `request_id`, `action` and `version`
with `structlog.contextvars`, so any structlog logger using `merge_contextvars` carries them.
"""

from __future__ import annotations

import os
import sys
from contextvars import ContextVar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextvars import Token
    from typing import Any, TextIO

#: True once request binding is wanted; read by the runtime on every request (one attribute load).
active = False
_structlog_bound = False

#: [request_id, action, version, stream, structlog contextvar tokens or None] of the current request.
_REQUEST: ContextVar[list[Any] | None] = ContextVar("deployer_agent_log_request", default=None)
LEVEL_ENV = "DEPLOYER_LOG_LEVEL"


def expect() -> None:
    """Ask the runtime to bind each request from now on (the agent's code uses `self.log`)."""
    global active
    active = True


def enter_request(request_id: str, action: str, version: str, stream: TextIO) -> Token[list[Any] | None]:
    """Make this request the one agent log lines are bound to and written for."""
    scope: list[Any] = [request_id, action, version, stream, None]
    token = _REQUEST.set(scope)
    if _structlog_bound:
        scope[4] = _bind(scope)
    return token


def exit_request(token: Token[list[Any] | None]) -> None:
    scope = _REQUEST.get()
    if scope is not None and scope[4] is not None:
        try:
            for var_token in scope[4].values():
                var_token.var.reset(var_token)
        except ValueError:  # bound inside the action's own context copy (a deadline thread): gone with it
            pass
    _REQUEST.reset(token)


_bind_contextvars: Any = None  # structlog.contextvars.bind_contextvars, once a logger imported structlog


def _bind(scope: list[Any]) -> Mapping[str, Token[Any]]:
    """`structlog.contextvars.bind_contextvars` of the request's fields; its tokens, to reset them."""
    tokens: Mapping[str, Token[Any]] = _bind_contextvars(request_id=scope[0], action=scope[1], version=scope[2])
    return tokens


class _RequestStream:
    """The file agent lines are written to: the current request's stream, else stdout."""

    def write(self, text: str) -> int:
        scope = _REQUEST.get()
        stream = scope[3] if scope is not None else sys.stdout
        return stream.write(text)

    def flush(self) -> None:
        scope = _REQUEST.get()
        stream = scope[3] if scope is not None else sys.stdout
        flush = getattr(stream, "flush", None)
        if flush is not None:
            flush()


_STREAM = _RequestStream()


def agent_logger(*, agent: str, environment: str) -> Any:
    """A structlog logger writing JSON lines bound to `agent`, `environment` and the current request.

    Configured here, explicitly (`structlog.wrap_logger`), never through `structlog.configure`:
    the agent's own structlog configuration, if any, is left alone.
    """
    global _structlog_bound, _bind_contextvars
    try:
        import structlog
    except ImportError as exc:
        raise ImportError(
            "self.log needs structlog: add `structlog` to code.requirements in agent.yaml "
            "so that the bundle installs it"
        ) from exc
    import logging

    _bind_contextvars = structlog.contextvars.bind_contextvars

    level = logging.getLevelNamesMapping().get(os.environ.get(LEVEL_ENV, "info").upper(), logging.INFO)
    logger = structlog.wrap_logger(
        structlog.WriteLogger(_STREAM),  # type: ignore[arg-type]  # a file-like, resolved per write
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        context_class=dict,
        cache_logger_on_first_use=True,
    ).bind(agent=agent, environment=environment)
    _structlog_bound = True
    expect()
    scope = _REQUEST.get()
    if scope is not None and scope[4] is None:  # created during a request: bind that request now
        scope[4] = _bind(scope)
    return logger
