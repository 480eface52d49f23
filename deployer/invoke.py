"""Run one request through the Lambda runtime in this process (Stage 1: `deployer invoke`).

The same `handlers.runtime.Runtime` that runs in the Lambda runs here, fed the same runtime
config the bundle bakes in (`DeploymentModel.runtime_config()`), with its output stream captured
so that the caller gets the response, the request-record log line and the EMF line::

    model = resolve_environment("agent.yaml", "local").model
    result = invoke(model, "route", {"message": "I was charged twice"})
    result.status, result.body["output"], result.record["latency_ms"], result.metrics["CostUSD"]

Routing a request through the local emulator's gateway instead is the emulator's job; this
module is the in-process path only. Library code: it never prints.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError


@dataclass(frozen=True)
class Invocation:
    """One request's answer and its telemetry."""

    status: int
    body: dict[str, Any]
    log_line: str
    emf_line: str
    response: dict[str, Any] = field(repr=False)
    init_ms: float | None = None  # agent import + model load, when this request cold-started the runtime

    @property
    def record(self) -> dict[str, Any]:
        """The request-record log line, parsed."""
        return json.loads(self.log_line) if self.log_line else {}

    @property
    def metrics(self) -> dict[str, Any]:
        """The EMF line, parsed."""
        return json.loads(self.emf_line) if self.emf_line else {}

    @property
    def ok(self) -> bool:
        return self.status < 400


class _Capture(io.StringIO):
    """The runtime's output stream: keeps the lines of the last request."""

    def take(self) -> list[str]:
        lines = self.getvalue().splitlines()
        self.seek(0)
        self.truncate()
        return lines


class LocalAgent:
    """An agent of a compiled environment, run in-process with the Lambda runtime.

    The agent is imported and instantiated on the first request and reused after, as in a warm
    Lambda container. `environ` replaces `os.environ` for the runtime (fault injection, version).
    """

    def __init__(self, model: DeploymentModel, *, environ: dict[str, str] | None = None, fresh: bool = True) -> None:
        ensure_sdk_package()
        from handlers.config import RuntimeConfig
        from handlers.runtime import Runtime

        self.model = model
        if fresh:
            forget_code_modules(Path(model.code.root))
        env = dict(model.function.environment)
        env.update(environ or {})
        self._capture = _Capture()
        self.runtime = Runtime(RuntimeConfig.from_dict(model.runtime_config()), stream=self._capture, environ=env)

    @classmethod
    def from_spec(cls, spec: str | Path = "agent.yaml", environment: str = "local", **kwargs: Any) -> LocalAgent:
        """`LocalAgent.from_spec("agent.yaml", "local").invoke("route", {...})`."""
        from deployer.environments import resolve_environment

        return cls(resolve_environment(spec, environment).model, **kwargs)

    def invoke(
        self,
        action: str,
        data: str | bytes | dict[str, Any] | None = None,
        *,
        replay: bool = False,
        request_id: str | None = None,
        context: Any = None,
    ) -> Invocation:
        """POST /{action} with `data` as the JSON body (a string is sent as is, unparsed)."""
        if data is None:
            body: str | bytes = "{}"
        elif isinstance(data, (str, bytes)):
            body = data
        else:
            body = json.dumps(data)
        headers = {"content-type": "application/json"}
        if replay:
            headers["x-deployer-replay"] = "1"
        if request_id:
            headers["x-request-id"] = request_id
        event = function_url_event(action, body, headers)
        init_ms = None
        if self.runtime._loaded is None:  # cold: load first, so the request's latency is its own
            started = time.perf_counter()
            self.runtime.load(getattr(context, "function_version", None))
            init_ms = (time.perf_counter() - started) * 1000
        response = self.runtime.handle(event, context)
        lines = self._capture.take()
        log_line = next((line for line in lines if line.startswith('{"event"')), "")
        emf_line = next((line for line in lines if line.startswith('{"_aws"')), "")
        try:
            parsed = json.loads(response["body"])
        except (KeyError, ValueError) as exc:
            raise DeployerError(f"the runtime answered a malformed response: {exc}") from None
        return Invocation(
            status=int(response["statusCode"]), body=parsed, log_line=log_line, emf_line=emf_line, response=response,
            init_ms=init_ms,
        )


def invoke(
    model: DeploymentModel,
    action: str,
    data: str | bytes | dict[str, Any] | None = None,
    *,
    replay: bool = False,
    request_id: str | None = None,
    environ: dict[str, str] | None = None,
) -> Invocation:
    """One request, in-process, through a fresh runtime (a cold start)."""
    return LocalAgent(model, environ=environ).invoke(action, data, replay=replay, request_id=request_id)


def function_url_event(action: str, body: str | bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A Lambda Function URL event (payload 2.0) for `POST /{action}`."""
    import base64

    is_binary = isinstance(body, bytes)
    text = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": f"/{action}",
        "rawQueryString": "",
        "headers": dict(headers or {}),
        "requestContext": {"http": {"method": "POST", "path": f"/{action}", "sourceIp": "127.0.0.1"}},
        "body": text,
        "isBase64Encoded": is_binary,
    }


def forget_code_modules(root: Path) -> None:
    """Drop modules imported from `root`, so the next import reads the code on disk again."""
    # String prefixes of the root as given and as resolved: resolving every loaded module's path
    # instead costs ~50 ms with a few hundred modules loaded (it was most of `deployer validate`).
    prefixes = tuple(dict.fromkeys(os.path.join(str(path), "") for path in (root.absolute(), root.resolve())))
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and file.startswith(prefixes):
            del sys.modules[name]


def ensure_sdk_package() -> None:
    """Make `handlers` the regular package, so agent code can `from handlers import agent`.

    An editable install made before `handlers/__init__.py` existed exposes `handlers` as a
    namespace package (no `__init__`); reinstalling (`make install`) fixes it for good.
    """
    import importlib.util

    import handlers

    if getattr(handlers, "__file__", None) is not None:
        return
    init = next((Path(p) / "__init__.py" for p in handlers.__path__ if (Path(p) / "__init__.py").exists()), None)
    if init is None:
        raise DeployerError("the handlers package has no __init__.py", hint="reinstall deployer: make install")
    spec = importlib.util.spec_from_file_location("handlers", init, submodule_search_locations=[str(init.parent)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["handlers"] = module
    spec.loader.exec_module(module)
