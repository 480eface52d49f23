"""Enforcing an action's deadline.

On the main thread (Lambda, `deployer invoke`, emulator worker processes) a `SIGALRM` timer
interrupts the action: ~1 us per request, and it also interrupts blocking sleeps and socket
reads. An outer timer that was already running (pytest-timeout, say) is honoured and restored,
and an alarm that is not ours goes to the handler ours replaced (or ends the process, as
SIGALRM's default action does).
On any other thread the action runs in a daemon thread that the caller stops waiting for at the
deadline (Python cannot kill a thread; the late result is dropped).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module: no enum wrapping (and no enum import)
import _thread
import contextvars
import os
import sys
import time

from handlers.usage import ActionTimeout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import Any, TypeVar

    T = TypeVar("T")


def _main_thread_ident() -> int | None:
    threading = sys.modules.get("threading")
    return threading.main_thread().ident if threading is not None else _thread.get_ident()


_MAIN_THREAD = _main_thread_ident()
_HAS_ITIMER = hasattr(_signal, "setitimer") and hasattr(_signal, "SIGALRM")
# [deadline or None, previous handler, outer timer fired]
_state: list[Any] = [None, None, False]


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    deadline = _state[0]
    if deadline is not None and time.monotonic() >= deadline - 0.002:
        _state[0] = None
        raise ActionTimeout()
    _state[2] = True  # an outer timer fired: behave as its handler would have
    previous = _state[1]
    if callable(previous):
        previous(signum, frame)
    elif previous == _signal.SIG_DFL:  # SIGALRM's default action ends the process
        _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGALRM)


def call_with_deadline(func: Callable[..., T], kwargs: dict[str, Any], timeout_s: float) -> T:
    """Run `func(**kwargs)`; raise `ActionTimeout` if it runs longer than `timeout_s`."""
    if timeout_s <= 0:
        raise ActionTimeout()
    ident = _thread.get_ident()
    if _HAS_ITIMER and ident == _MAIN_THREAD and _state[0] is None:
        return _with_alarm(func, kwargs, timeout_s)
    if ident == _MAIN_THREAD and _state[0] is not None:
        return func(**kwargs)  # nested call: the outer deadline already applies
    return _in_thread(func, kwargs, timeout_s)


def _with_alarm(func: Callable[..., T], kwargs: dict[str, Any], timeout_s: float) -> T:
    # Our handler stays installed between requests (it hands other alarms to the handler it
    # replaced), so a warm request only checks it is still there.
    if _signal.getsignal(_signal.SIGALRM) is not _on_alarm:
        _state[1] = _signal.signal(_signal.SIGALRM, _on_alarm)
    start = time.monotonic()
    outer_delay, outer_interval = _signal.setitimer(_signal.ITIMER_REAL, timeout_s)
    if outer_delay and outer_delay < timeout_s:
        _signal.setitimer(_signal.ITIMER_REAL, outer_delay)
    _state[0] = start + timeout_s
    _state[2] = False
    try:
        return func(**kwargs)
    finally:
        _state[0] = None
        if outer_delay and not _state[2]:
            left = outer_delay - (time.monotonic() - start)
            _signal.setitimer(_signal.ITIMER_REAL, max(left, 1e-6), outer_interval)
        else:
            _signal.setitimer(_signal.ITIMER_REAL, 0)


def _in_thread(func: Callable[..., T], kwargs: dict[str, Any], timeout_s: float) -> T:
    import threading

    context = contextvars.copy_context()
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = context.run(func, **kwargs)
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="deployer-action", daemon=True).start()
    if not done.wait(timeout_s):
        raise ActionTimeout()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
