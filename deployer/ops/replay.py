"""Replay: run a recorded input again against a chosen version, and compare.

In AWS the version is invoked directly (`lambda:Invoke` with `Qualifier=<version>` and the
direct-invoke event `{"action", "input", "replay": true}`); locally the emulator's gateway is
called with the version pinned (`x-deployer-invoke-version`) and `x-deployer-replay: 1`. Either
way the runtime marks the request as a replay: its metrics go to the `Deployer/Replay` namespace
and never count against a canary's alarms, and its record says `replay: true`.

An action marked `side_effects: true` in the spec is refused unless `allow_side_effects` is set.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from deployer.errors import DeployerError
from deployer.ops.records import RequestRecord
from deployer.ops.requests import get_request, recent_requests
from deployer.ops.target import OpsTarget

REPLAY_HEADER = "x-deployer-replay"
PIN_HEADER = "x-deployer-invoke-version"
Against = Literal["canary", "stable"]


@dataclass(frozen=True)
class InvokeResult:
    """What one (replayed) invocation returned."""

    version: str
    status: int
    output: Any
    error_type: str | None
    error_message: str | None
    latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    request_id: str | None

    @property
    def ok(self) -> bool:
        return self.status < 400

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "status": self.status, "ok": self.ok, "output": self.output,
                "error_type": self.error_type, "error_message": self.error_message, "latency_ms": self.latency_ms,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "cost_usd": self.cost_usd,
                "request_id": self.request_id}


class Invoker(Protocol):
    def __call__(self, action: str, data: Any, *, version: str | None, replay: bool) -> InvokeResult: ...


def result_from_body(body: Any, status: int, version: str, *, wall_ms: float | None = None,
                     handler_ms: float | None = None, request_id: str | None = None) -> InvokeResult:
    """The runtime's response body (success: output + usage; failure: error) -> `InvokeResult`."""
    usage: dict[str, Any] = body["usage"] if isinstance(body, dict) and isinstance(body.get("usage"), dict) else {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        error_type, message = error.get("type"), error.get("message")
    elif status >= 400:
        error_type = "HTTP" + str(status)
        message = (body.get("message") if isinstance(body, dict) else None) or (str(error) if error else str(body))
    else:
        error_type = message = None
    if isinstance(body, dict) and "output" in body:
        output = body["output"]
    elif status < 400:
        output = {k: v for k, v in body.items() if k not in ("status", "request_id")} if isinstance(body, dict) else body
    else:
        output = None
    latency = usage.get("latency_ms", handler_ms if handler_ms is not None else wall_ms)
    rid = body.get("request_id") if isinstance(body, dict) else None
    return InvokeResult(version=version, status=status, output=output, error_type=error_type, error_message=message,
                        latency_ms=None if latency is None else float(latency),
                        input_tokens=usage.get("input_tokens"), output_tokens=usage.get("output_tokens"),
                        cost_usd=usage.get("cost_usd"), request_id=str(rid or request_id or "") or None)


@dataclass(frozen=True)
class GatewayReply:
    """What the emulator's gateway answered one request: status, parsed body and its headers."""

    status: int
    body: Any
    version: str | None
    request_id: str | None
    handler_ms: float | None
    max_memory_mb: float | None
    wall_ms: float

    def to_dict(self) -> dict[str, Any]:
        """The shape `Emulator.invoke` and `deployer invoke --env local` return."""
        return {"status": self.status, "body": self.body, "version": self.version, "request_id": self.request_id,
                "handler_ms": self.handler_ms or 0.0, "max_memory_mb": self.max_memory_mb or 0.0}


def call_gateway(gateway_url: str, action: str, body: bytes, *, version: str | None = None, replay: bool = False,
                 timeout_s: float = 60.0) -> GatewayReply:
    """POST one request to the emulator's gateway as a client would (`version` pinned, marked a `replay`)."""
    headers = {"content-type": "application/json"}
    if replay:
        headers[REPLAY_HEADER] = "1"
    if version is not None:
        headers[PIN_HEADER] = str(version)
    request = urllib.request.Request(f"{gateway_url.rstrip('/')}/{action.lstrip('/')}", method="POST", headers=headers,
                                     data=body)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, raw, rh = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, rh = exc.code, exc.read(), dict(exc.headers)
    except (urllib.error.URLError, OSError) as exc:
        raise DeployerError(f"the emulator's gateway at {gateway_url} does not answer: {exc}",
                            hint="is `deployer local up` still running?") from None
    wall_ms = (time.perf_counter() - started) * 1000
    lower = {k.lower(): v for k, v in rh.items()}
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode("utf-8", "replace")

    def number(name: str) -> float | None:
        return float(lower[name]) if lower.get(name) else None

    return GatewayReply(status=status, body=parsed, version=lower.get("x-deployer-version"),
                        request_id=lower.get("x-amzn-requestid"), handler_ms=number("x-deployer-handler-ms"),
                        max_memory_mb=number("x-deployer-max-memory-mb"), wall_ms=wall_ms)


def gateway_invoker(gateway_url: str, *, timeout_s: float = 60.0) -> Invoker:
    """Invoke through the emulator's gateway (a Function URL): `POST /{action}`, version pinned."""

    def invoke(action: str, data: Any, *, version: str | None, replay: bool) -> InvokeResult:
        reply = call_gateway(gateway_url, action, json.dumps(data).encode(), version=version, replay=replay,
                             timeout_s=timeout_s)
        return result_from_body(reply.body, reply.status, reply.version or str(version or ""), wall_ms=reply.wall_ms,
                                handler_ms=reply.handler_ms, request_id=reply.request_id)

    return invoke


def lambda_invoker(target: OpsTarget) -> Invoker:
    """Invoke one version of the function directly (`lambda:Invoke` with a Qualifier)."""
    functions = target.functions

    def invoke(action: str, data: Any, *, version: str | None, replay: bool) -> InvokeResult:
        qualifier = version or target.model.alias
        event = {"action": action, "input": data, "replay": replay}
        started = time.perf_counter()
        body, function_error, request_id = functions.invoke(target.function_name, qualifier, event)
        wall_ms = (time.perf_counter() - started) * 1000
        if function_error:
            return InvokeResult(version=qualifier, status=502, output=None,
                                error_type=str(body.get("errorType") or function_error),
                                error_message=str(body.get("errorMessage") or body), latency_ms=wall_ms,
                                input_tokens=None, output_tokens=None, cost_usd=None, request_id=request_id)
        status = int(body.get("status") or (500 if "error" in body else 200))
        served = str(body.get("version") or qualifier)
        return result_from_body(body, status, served, wall_ms=wall_ms, request_id=request_id)

    return invoke


def invoker_for(target: OpsTarget) -> Invoker:
    if target.local:
        if not target.gateway_url:
            raise DeployerError("the emulator did not advertise its gateway", hint="restart `deployer local up`")
        return gateway_invoker(target.gateway_url)
    return lambda_invoker(target)


# -- choosing the version ------------------------------------------------------------------------
def alias_routing(target: OpsTarget) -> tuple[str | None, dict[str, float]]:
    """(primary version, {canary version: weight}) of the live alias; (None, {}) if nothing is deployed."""
    return target.routing()


def choose_version(target: OpsTarget, *, version: str | None = None, against: Against | None = None) -> str:
    """`--version N` as given; `--against stable` (default) is the alias's primary; `canary` its weighted one."""
    if version is not None and against is not None:
        raise DeployerError("give --version or --against, not both")
    if version is not None:
        target.check_published(str(version))
        return str(version)
    primary, additional = alias_routing(target)
    env = target.environment
    if primary is None:
        raise DeployerError(f"nothing is deployed in {env!r}: alias {target.model.alias} of {target.function_name} "
                            f"does not exist in {target.where}", hint=f"deploy first: `deployer deploy --env {env}`")
    if against == "canary":
        if not additional:
            raise DeployerError(f"no canary in {env!r}: alias {target.model.alias} sends all traffic to version {primary}",
                                hint="replay against a version with --version N, or against --against stable")
        return max(additional.items(), key=lambda kv: kv[1])[0]
    return primary


# -- replaying -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayResult:
    """A recorded request and what the chosen version does with its input now."""

    original: RequestRecord
    new: InvokeResult

    @property
    def changed(self) -> bool | None:
        """True/False when it can be told; None when the original output was not kept."""
        if self.original.ok != self.new.ok:
            return True
        if not self.new.ok:
            return self.original.error_type != self.new.error_type
        if not self.original.has_output:
            return None
        return _canonical(self.original.output) != _canonical(self.new.output)

    def to_dict(self) -> dict[str, Any]:
        return {"request_id": self.original.request_id, "action": self.original.action,
                "input": self.original.input, "original": self.original.to_dict(), "replay": self.new.to_dict(),
                "changed": self.changed, "now_succeeds": self.new.ok}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def check_replayable(target: OpsTarget, record: RequestRecord, *, allow_side_effects: bool) -> None:
    action = target.model.action(record.action)
    if action is not None and action.side_effects and not allow_side_effects:
        raise DeployerError(
            f"action {record.action!r} is marked `side_effects: true` in the spec: replaying request "
            f"{record.request_id} would repeat its effects",
            hint="pass --allow-side-effects (allow_side_effects=True) if repeating them is safe")
    if not record.has_input:
        raise DeployerError(
            f"request {record.request_id} has no recorded input: the monitoring policy of action {record.action!r} "
            "did not keep it (log_inputs off, or a success outside sample_rate)",
            hint="only requests whose input was kept can be replayed; failures always keep theirs when log_inputs is on")


def replay_request(target: OpsTarget, request_id: str, *, version: str | None = None, against: Against | None = None,
                   allow_side_effects: bool = False, invoker: Invoker | None = None) -> ReplayResult:
    """Replay one recorded request against a chosen version (default: the stable one)."""
    record = get_request(target, request_id)
    check_replayable(target, record, allow_side_effects=allow_side_effects)
    chosen = choose_version(target, version=version, against=against)
    invoke = invoker or invoker_for(target)
    return ReplayResult(record, invoke(record.action, record.input, version=chosen, replay=True))


@dataclass
class BatchReplay:
    """A batch of replays and its summary."""

    version: str
    results: list[ReplayResult] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "replayed": len(self.results),
            "now_succeed": sum(1 for r in self.results if r.new.ok),
            "fail": sum(1 for r in self.results if not r.new.ok),
            "changed": sum(1 for r in self.results if r.changed is True),
            "unchanged": sum(1 for r in self.results if r.changed is False),
            "unknown": sum(1 for r in self.results if r.changed is None),
            "fixed": sum(1 for r in self.results if not r.original.ok and r.new.ok),
            "broken": sum(1 for r in self.results if r.original.ok and not r.new.ok),
            "skipped": len(self.skipped),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "results": [r.to_dict() for r in self.results], "skipped": self.skipped}


def replay_batch(target: OpsTarget, last: int, *, errors_only: bool = False, version: str | None = None,
                 against: Against | None = None, allow_side_effects: bool = False, since_s: float | None = None,
                 invoker: Invoker | None = None,
                 on_result: Callable[[ReplayResult], None] | None = None) -> BatchReplay:
    """Replay the last `last` requests (or failed requests); skip the ones that cannot be replayed."""
    if last <= 0:
        raise DeployerError("--last must be a positive number of requests")
    chosen = choose_version(target, version=version, against=against)
    records = recent_requests(target, limit=last, errors_only=errors_only, since_s=since_s)
    invoke = invoker or invoker_for(target)
    batch = BatchReplay(version=chosen)
    for record in records:
        try:
            check_replayable(target, record, allow_side_effects=allow_side_effects)
        except DeployerError as exc:
            batch.skipped.append({"request_id": record.request_id, "reason": exc.message})
            continue
        result = ReplayResult(record, invoke(record.action, record.input, version=chosen, replay=True))
        batch.results.append(result)
        if on_result is not None:
            on_result(result)
    return batch
