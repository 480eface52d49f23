"""Execute a JSONata Step Functions definition in moto's interpreter, on an emulated clock.

moto 5.2 runs state machines in-process (``execute_state_machine``) but leaves JSONata
unevaluated, waits in real time and cannot fail on demand. Inside ``stepfunctions_in_moto()``:

* JSONata: jsonata-python evaluates every ``{% %}`` expression; ``$now()``/``$millis()`` read the clock
  (one instant per expression, as in JSONata). A JSONata error (type error, bad syntax) fails the
  state with ``States.QueryEvaluationError`` as on AWS (moto alone: ``States.Runtime``).
* Time on the harness's clock, an `EmulatedClock` (scaled wall time) or a `SteppedClock` (moves
  only while the execution waits: exact on any machine); ``advance()`` jumps either. It rules Wait
  states (Seconds, Timestamp and their JSONata forms), Retry back-off, the state machine's
  ``TimeoutSeconds``, history event timestamps, ``startDate``/``stopDate``,
  ``$states.context.Execution.StartTime`` and ``State.EnteredTime``. NOT on the clock: a Task's
  ``TimeoutSeconds``/``HeartbeatSeconds`` (moto joins a thread in real seconds) and timestamps moto
  stamps outside the interpreter (metric data put without a Timestamp, alarm
  ``StateUpdatedTimestamp``, Lambda ``LastModified``).
* Faults: ``harness.fail("lambda", "UpdateAlias", times=2)`` makes the interpreter's next calls of
  that operation raise a botocore ClientError; the test's own clients are untouched.
* Observation: every interpreter call, alias update and SNS message, stamped with clock time.

Each moto patch is small, says why, and is undone on exit. One harness at a time (they are
process-wide). ``deploy_template`` creates, from a synthesized CloudFormation template, what a
definition touches and moto's CloudFormation skips (aliases, alarms), then the state machine.
"""

from __future__ import annotations

import copy
import datetime as _dt
import io
import json
import re
import sys
import threading
import time
import types
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

POLL_S = 0.01  # real seconds between checks of a sleeping clock or a running execution
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# aws-sdk error prefixes as AWS names them (SDK for Java v2 client names: ServiceName.ErrorName);
# moto's interpreter uses the lower-case service id ("lambda.TooManyRequestsException").
AWS_ERROR_SERVICE_NAMES = {"lambda": "Lambda", "cloudwatch": "CloudWatch", "sns": "Sns", "sqs": "Sqs", "s3": "S3"}
_ACTIVE = threading.Lock()


class EmulatedClock:
    """Epoch seconds running `scale` times faster than real time; `advance()` jumps ahead.

    Every real millisecond the interpreter spends is `scale` ms of clock time (0.6 s at 600x):
    assert clock intervals with that slack, or use a lower scale for tight timing checks.
    """

    def __init__(self, *, start: float | None = None, scale: float = 600.0) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self._origin = float(int(time.time()) if start is None else start)
        self._anchor = time.monotonic()
        self._cond = threading.Condition()

    def _now(self) -> float:  # caller holds self._cond
        return self._origin + (time.monotonic() - self._anchor) * self.scale

    def now(self) -> float:
        with self._cond:
            return self._now()

    def millis(self) -> int:
        return int(self.now() * 1000)

    def datetime(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.now(), _dt.UTC)

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._origin += seconds
            self._cond.notify_all()

    def sleep(self, seconds: float, *, cancelled: Callable[[], bool] | None = None) -> bool:
        """Sleep `seconds` of clock time (an `advance()` wakes it); False if `cancelled()` turned true first."""
        with self._cond:
            deadline = self._now() + seconds
            while (remaining := deadline - self._now()) > 0:
                if cancelled is not None and cancelled():
                    return False
                self._cond.wait(min(remaining / self.scale, POLL_S))
            return True


class SteppedClock:
    """Discrete-event time: it stands still while the interpreter works and moves only when the
    execution waits (a Wait state, a Retry back-off), running the simulators (`every`) at each of
    their ticks on the way, on the execution's own thread. What the definition sees about time then
    no longer depends on how busy the machine is: the executed state machine keeps the emulator
    engine's timeline to the tick. `advance()` still jumps (ticks skipped by a jump are not replayed).
    """

    scale = float("inf")

    def __init__(self, *, start: float | None = None) -> None:
        self._now = float(int(time.time()) if start is None else start)
        self._lock = threading.RLock()
        self._tickers: list[list[Any]] = []  # [every_s (None: once), callback(now), next due]

    def now(self) -> float:
        with self._lock:
            return self._now

    def millis(self) -> int:
        return int(self.now() * 1000)

    def datetime(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.now(), _dt.UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def every(self, seconds: float, callback: Callable[[float], None]) -> None:
        """Run `callback(now)` now and then every `seconds` of clock time the execution waits through."""
        with self._lock:
            self._tickers.append([seconds, callback, self._now + seconds])
        callback(self.now())

    def at(self, when: float, callback: Callable[[float], None]) -> Callable[[], None]:
        """Run `callback(now)` once, when a wait reaches clock time `when` (an execution's deadline:
        time cannot pass it unseen). Returns the function that cancels it."""
        entry: list[Any] = [None, callback, when]
        with self._lock:
            self._tickers.append(entry)

        def cancel() -> None:
            with self._lock:
                self._tickers = [t for t in self._tickers if t is not entry]
        return cancel

    def stop_ticking(self) -> None:
        """Drop the simulators' tickers; executions' deadlines stay."""
        with self._lock:
            self._tickers = [t for t in self._tickers if t[0] is None]

    def sleep(self, seconds: float, *, cancelled: Callable[[], bool] | None = None) -> bool:
        """The execution waits `seconds`: time moves to each ticker due on the way, then to the end."""
        with self._lock:
            target = self._now + seconds
            while True:
                if cancelled is not None and cancelled():
                    return False
                due = [t for t in self._tickers if t[2] <= target]
                if not due:
                    self._now = max(self._now, target)
                    return True
                ticker = min(due, key=lambda t: t[2])
                self._now = max(self._now, ticker[2])
                if ticker[0] is None:
                    self._tickers.remove(ticker)
                else:
                    ticker[2] = max(ticker[2] + ticker[0], self._now + ticker[0])
                ticker[1](self._now)  # may advance() the clock past the target: then the wait is over
                if self._now >= target:
                    return True


@dataclass(frozen=True)
class InterpreterCall:
    at: float  # clock seconds
    service: str  # botocore service name: "lambda", "cloudwatch", "sns"
    operation: str  # "UpdateAlias"
    params: dict[str, Any]
    error: str | None  # error code (injected or moto's), None on success


@dataclass(frozen=True)
class AliasUpdate:
    at: float
    function: str
    alias: str
    version: str
    weights: dict[str, float]  # AdditionalVersionWeights


@dataclass(frozen=True)
class Notification:
    at: float
    topic_arn: str
    subject: str | None
    message: str


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    type: str
    state: str | None  # the state being executed when the event was written
    at: float
    details: dict[str, Any]


@dataclass(frozen=True)
class ExecutionResult:
    arn: str
    status: str
    error: str | None
    cause: str | None
    output: Any
    started_at: float
    stopped_at: float | None
    events: tuple[HistoryEvent, ...]
    calls: tuple[InterpreterCall, ...]  # made during this run
    alias_updates: tuple[AliasUpdate, ...]
    notifications: tuple[Notification, ...]
    wall_s: float

    def states_entered(self) -> list[str]:
        return [e.details["name"] for e in self.events if e.type.endswith("StateEntered")]

    def events_of(self, type_: str) -> list[HistoryEvent]:
        return [e for e in self.events if e.type == type_]


class ExecutionTimeout(AssertionError):
    """The execution was still running when the real-time budget of `run()` ran out."""


class SimulatorFailed(AssertionError):
    """A callback registered with `every()` raised; the execution was stopped."""


@dataclass
class _Fault:
    service: str
    operation: str  # lower case
    remaining: int
    code: str
    status: int
    message: str


@dataclass
class _Simulator:
    every_s: float
    callback: Callable[[StepFunctionsHarness, float], None]


class StepFunctionsHarness:
    """What a test drives inside `stepfunctions_in_moto()`: deploy, run, inject faults, observe."""

    def __init__(self, clock: EmulatedClock | SteppedClock, region: str, account: str) -> None:
        self.clock, self.region, self.account = clock, region, account
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._calls: list[InterpreterCall] = []
        self._alias_updates: list[AliasUpdate] = []
        self._notifications: list[Notification] = []
        self._simulators: list[_Simulator] = []
        self._clients: dict[str, Any] = {}
        self.role_arn = self.client("iam").create_role(
            RoleName="stepfunctions-harness", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

    # -- the test's own clients (never faulted, never recorded) --------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self.region)  # type: ignore[call-overload]
        return self._clients[service]

    def alias_weights(self, function: str, alias: str = "live") -> dict[str, float]:
        """version -> share of traffic, as moto holds the alias now."""
        got = self.client("lambda").get_alias(FunctionName=function, Name=alias)
        extra = {v: float(w) for v, w in got.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}).items()}
        return {got["FunctionVersion"]: round(1.0 - sum(extra.values()), 6), **extra}

    def put_metric(self, namespace: str, name: str, value: float, *, dimensions: Mapping[str, str] | None = None,
                   unit: str | None = None) -> None:
        """One datapoint stamped with clock time (moto stamps real time when none is given)."""
        datum: dict[str, Any] = {"MetricName": name, "Value": value, "Timestamp": self.clock.datetime(),
                                 "Dimensions": [{"Name": k, "Value": v} for k, v in (dimensions or {}).items()]}
        if unit:
            datum["Unit"] = unit
        self.client("cloudwatch").put_metric_data(Namespace=namespace, MetricData=[datum])

    def set_alarm(self, name: str, state: str, reason: str = "set by the test") -> None:
        self.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    # -- faults ----------------------------------------------------------------------------------

    def fail(self, service: str, operation: str, *, times: int = 1, code: str = "TooManyRequestsException",
             status: int = 429, message: str = "Rate exceeded (injected by the test)") -> None:
        """The interpreter's next `times` calls of `service`.`operation` raise ClientError `code`."""
        with self._lock:
            self._faults.append(_Fault(service, operation.lower(), times, code, status, message))

    def faults_left(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def _take_fault(self, service: str, operation: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.service == service and fault.operation == operation.lower():
                    fault.remaining -= 1
                    return fault
        return None

    # -- observation -----------------------------------------------------------------------------

    @property
    def calls(self) -> tuple[InterpreterCall, ...]:
        with self._lock:
            return tuple(self._calls)

    @property
    def alias_updates(self) -> tuple[AliasUpdate, ...]:
        with self._lock:
            return tuple(self._alias_updates)

    @property
    def notifications(self) -> tuple[Notification, ...]:
        with self._lock:
            return tuple(self._notifications)

    def instrument(self, client: Any) -> Any:
        """Hook an interpreter client: faults short-circuit before the call, outcomes are recorded."""
        events = client.meta.events
        events.register("before-parameter-build", self._on_params)
        events.register("before-call", self._on_before_call)
        events.register("after-call", self._on_after_call)
        return client

    @staticmethod
    def _on_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["harness_params"] = copy.deepcopy(dict(params))

    def _on_before_call(self, model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        fault = self._take_fault(model.service_model.service_name, model.name)
        if fault is None:
            return None
        metadata = {"HTTPStatusCode": fault.status, "RequestId": "harness-injected", "HTTPHeaders": {}}
        parsed = {"Error": {"Code": fault.code, "Message": fault.message}, "ResponseMetadata": metadata}
        return AWSResponse("https://harness.invalid/", fault.status, HTTPHeaders(), None), parsed

    def _on_after_call(self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any],
                       **_: Any) -> None:
        now, service, operation = self.clock.now(), model.service_model.service_name, model.name
        params = context.get("harness_params", {})
        ok = http_response.status_code < 300
        with self._lock:
            self._calls.append(InterpreterCall(now, service, operation, params,
                                               None if ok else parsed.get("Error", {}).get("Code", "Unknown")))
            if ok and (service, operation) == ("lambda", "UpdateAlias"):
                weights = parsed.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
                self._alias_updates.append(AliasUpdate(now, params.get("FunctionName", ""), params.get("Name", ""),
                                                       parsed.get("FunctionVersion", ""), dict(weights)))
            if ok and (service, operation) == ("sns", "Publish"):
                self._notifications.append(Notification(now, params.get("TopicArn") or params.get("TargetArn", ""),
                                                        params.get("Subject"), params.get("Message", "")))

    # -- traffic simulators ------------------------------------------------------------------------

    def every(self, seconds: float, callback: Callable[[StepFunctionsHarness, float], None]) -> None:
        """Call `callback(harness, clock_now)` at the start of every later `run()`, then every `seconds`
        of clock time until the execution ends, on its own thread. Ticks skipped by an `advance()` are
        not replayed: the next one fires at once and the schedule restarts there. An exception stops
        the run."""
        self._simulators.append(_Simulator(seconds, callback))

    def _start_simulators(self, stop: threading.Event, errors: list[BaseException]) -> list[threading.Thread]:
        if isinstance(self.clock, SteppedClock):  # ticks run on the execution's thread, as it waits
            clock = self.clock

            def ticker(sim: _Simulator) -> Callable[[float], None]:
                def tick(now: float) -> None:
                    if errors or stop.is_set():
                        return
                    try:
                        sim.callback(self, now)
                    except BaseException as ex:  # reported by run(), never lost
                        errors.append(ex)
                return tick

            for sim in self._simulators:
                clock.every(sim.every_s, ticker(sim))
            return []

        def loop(sim: _Simulator) -> None:
            due = self.clock.now()
            while not stop.is_set():
                try:
                    sim.callback(self, self.clock.now())
                except BaseException as ex:  # reported by run(), never lost
                    errors.append(ex)
                    return
                due = max(due + sim.every_s, self.clock.now())
                self.clock.sleep(due - self.clock.now(), cancelled=stop.is_set)

        threads = [threading.Thread(target=loop, args=(sim,), daemon=True, name="harness-simulator")
                   for sim in self._simulators]
        for thread in threads:
            thread.start()
        return threads

    # -- state machines ----------------------------------------------------------------------------

    def create_state_machine(self, definition: Mapping[str, Any] | str, name: str = "harness") -> str:
        text = definition if isinstance(definition, str) else json.dumps(definition)
        return str(self.client("stepfunctions").create_state_machine(
            name=name, definition=text, roleArn=self.role_arn)["stateMachineArn"])

    def deploy_template(self, template: Mapping[str, Any], *, physical: Mapping[str, Any] | None = None,
                        stack_name: str = "harness-stack") -> DeployedStack:
        """Create what a synthesized definition touches (see `_deploy`); references to anything else
        resolve to placeholders, listed in `.resolver.placeholders`."""
        return _deploy(self, template, TemplateResolver(template, region=self.region, account=self.account,
                                                        stack_name=stack_name, physical=physical, placeholders=True),
                       stack_name)

    def run(self, state_machine_arn: str, input: Any = None, *, timeout_s: float = 30.0,
            name: str | None = None) -> ExecutionResult:
        """Start an execution and wait (at most `timeout_s` real seconds) for it to end."""
        sfn = self.client("stepfunctions")
        with self._lock:
            marks = len(self._calls), len(self._alias_updates), len(self._notifications)
        stop, errors = threading.Event(), list[BaseException]()
        threads = self._start_simulators(stop, errors)
        real0 = time.monotonic()
        # moto names an unnamed execution "None" (and then refuses a second one): always name it.
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps({} if input is None else input),
                                  name=name or uuid.uuid4().hex)["executionArn"]
        try:
            while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                if errors or time.monotonic() - real0 > timeout_s:
                    _stop_execution(sfn, arn, error="Harness.Stopped", cause="run() gave up")
                    break
                time.sleep(POLL_S)
        finally:
            stop.set()
            if isinstance(self.clock, SteppedClock):
                self.clock.stop_ticking()
            for thread in threads:
                thread.join(timeout=5)
        wall = time.monotonic() - real0
        events = self.history(arn)
        if errors:
            raise SimulatorFailed(f"a simulator raised {errors[0]!r}; execution stopped") from errors[0]
        if described["status"] == "RUNNING":
            last = ", ".join(f"{e.type}({e.state})" for e in events[-6:])
            raise ExecutionTimeout(f"{arn} still RUNNING after {timeout_s:g} s real; last events: {last}")
        with self._lock:
            calls, updates, notes = (tuple(self._calls[marks[0]:]), tuple(self._alias_updates[marks[1]:]),
                                     tuple(self._notifications[marks[2]:]))
        output = described.get("output")
        return ExecutionResult(
            arn=arn, status=described["status"], error=described.get("error"), cause=described.get("cause"),
            output=json.loads(output) if output else None, started_at=described["startDate"].timestamp(),
            stopped_at=described["stopDate"].timestamp() if described.get("stopDate") else None,
            events=tuple(events), calls=calls, alias_updates=updates, notifications=notes, wall_s=wall)

    def history(self, execution_arn: str) -> list[HistoryEvent]:
        sfn, raw, token = self.client("stepfunctions"), [], None
        while True:
            page = sfn.get_execution_history(executionArn=execution_arn, **({"nextToken": token} if token else {}))
            raw += page["events"]
            if not (token := page.get("nextToken")):
                break
        events, current = [], None
        for event in raw:
            details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
            if event["type"].endswith("StateEntered"):
                current = details.get("name")
            events.append(HistoryEvent(event["id"], event["type"], current, event["timestamp"].timestamp(), details))
            if event["type"].endswith("StateExited"):
                current = None
        return events

    def _stop_running(self) -> None:
        """Stop every execution still running (started by run() or by the test), before the patches go."""
        sfn = self.client("stepfunctions")
        running = [e["executionArn"] for m in sfn.list_state_machines()["stateMachines"]
                   for e in sfn.list_executions(stateMachineArn=m["stateMachineArn"], statusFilter="RUNNING")["executions"]]
        for arn in running:
            _stop_execution(sfn, arn, error="Harness.Closed", cause="the harness exited")
        if running:
            time.sleep(5 * POLL_S)  # let their threads see the stop before the patches go


def _stop_execution(sfn: Any, arn: str, *, error: str, cause: str) -> None:
    """Stop a running execution once moto's worker thread has set it up.

    moto starts an execution on its own thread, which creates the evaluation environment that a
    stop acts on; a stop before that raises inside moto (AttributeError: 'NoneType' object has no
    attribute 'set_stop'), as a test's exit right after `start_execution` did. The first history
    event (ExecutionStarted) is written right after the environment exists: wait for it (bounded).
    """
    deadline = time.monotonic() + 5.0
    while not sfn.get_execution_history(executionArn=arn)["events"] and time.monotonic() < deadline:
        time.sleep(POLL_S)
    sfn.stop_execution(executionArn=arn, error=error, cause=cause)


# -- templates ---------------------------------------------------------------------------------

_NO_VALUE = object()


class TemplateResolver:
    """Resolves CloudFormation intrinsics (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split)
    against pseudo parameters and `physical`: logical id -> Ref value, or {"Ref": ..., "<Attr>": ...}.

    An unknown reference raises KeyError, or with `placeholders=True` resolves to a made-up value
    recorded in `.placeholders` ("Logical.Attr" -> value), so a test can check what used one.
    """

    def __init__(self, template: Mapping[str, Any], *, region: str, account: str, stack_name: str = "harness-stack",
                 partition: str = "aws", url_suffix: str = "amazonaws.com",
                 physical: Mapping[str, Any] | None = None, placeholders: bool = False) -> None:
        self.template = template
        self.use_placeholders = placeholders
        self.placeholders: dict[str, str] = {}
        self.pseudo = {"AWS::Partition": partition, "AWS::Region": region, "AWS::AccountId": account,
                       "AWS::URLSuffix": url_suffix, "AWS::StackName": stack_name,
                       "AWS::StackId": f"arn:{partition}:cloudformation:{region}:{account}:stack/{stack_name}/harness"}
        self.physical: dict[str, dict[str, Any]] = {}
        for logical, value in (physical or {}).items():
            self.set(logical, value if isinstance(value, Mapping) else {"Ref": value})

    def set(self, logical: str, attributes: Mapping[str, Any]) -> None:
        self.physical.setdefault(logical, {}).update(attributes)

    def resources(self, type_: str) -> dict[str, Mapping[str, Any]]:
        return {k: r.get("Properties", {}) for k, r in self.template.get("Resources", {}).items() if r["Type"] == type_}

    def attribute(self, logical: str, attribute: str) -> Any:
        if attribute == "Ref" and logical in self.pseudo:
            return self.pseudo[logical]
        if attribute == "Ref" and logical == "AWS::NoValue":
            return _NO_VALUE
        if logical in self.physical and attribute in self.physical[logical]:
            return self.physical[logical][attribute]
        parameter = self.template.get("Parameters", {}).get(logical)
        if attribute == "Ref" and parameter is not None and "Default" in parameter:
            return parameter["Default"]
        if self.use_placeholders and logical in self.template.get("Resources", {}):
            value = (f"arn:{self.pseudo['AWS::Partition']}:harness:{self.pseudo['AWS::Region']}:"
                     f"{self.pseudo['AWS::AccountId']}:{logical}") if attribute.endswith("Arn") else f"{logical}-{attribute}"
            self.placeholders[f"{logical}.{attribute}"] = value
            return value
        raise KeyError(f"no physical value for {logical}.{attribute}: pass physical={{{logical!r}: {{{attribute!r}: ...}}}}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not _NO_VALUE]
        if not isinstance(value, Mapping):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.attribute(arg, "Ref")
            if key == "Fn::GetAtt":
                logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.attribute(logical, self.resolve(attribute))
            if key == "Fn::Join":
                return str(self.resolve(arg[0])).join(str(part) for part in self.resolve(arg[1]))
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(self.resolve(arg[0]))
            if key == "Fn::Sub":
                return self._sub(*(arg if isinstance(arg, list) else [arg, {}]))
            if key.startswith("Fn::") or key == "Condition":
                raise NotImplementedError(f"intrinsic {key} is not supported by the harness")
        return {k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not _NO_VALUE}

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            logical, _, attribute = name.partition(".")
            return str(self.attribute(logical, attribute or "Ref"))
        return re.sub(r"\$\{([^}]+)\}", one, text)


@dataclass(frozen=True)
class DeployedStack:
    """Physical names by logical id of what `deploy_template` created."""

    resolver: TemplateResolver
    state_machines: dict[str, str] = field(default_factory=dict)  # -> ARN
    definitions: dict[str, str] = field(default_factory=dict)  # -> resolved definition text
    functions: dict[str, str] = field(default_factory=dict)  # -> function name
    versions: dict[str, str] = field(default_factory=dict)  # -> version number
    aliases: dict[str, str] = field(default_factory=dict)  # -> alias ARN
    alarms: dict[str, str] = field(default_factory=dict)  # -> alarm name
    topics: dict[str, str] = field(default_factory=dict)  # -> topic ARN
    queues: dict[str, str] = field(default_factory=dict)  # -> queue URL

    @property
    def state_machine_arn(self) -> str:
        if len(self.state_machines) != 1:
            raise LookupError(f"{len(self.state_machines)} state machines; pick one from .state_machines")
        return next(iter(self.state_machines.values()))


_ALARM_PROPERTIES = {"ActionsEnabled", "AlarmActions", "AlarmDescription", "AlarmName", "ComparisonOperator",
                     "DatapointsToAlarm", "Dimensions", "EvaluateLowSampleCountPercentile", "EvaluationPeriods",
                     "ExtendedStatistic", "InsufficientDataActions", "MetricName", "Metrics", "Namespace",
                     "OKActions", "Period", "Statistic", "Tags", "Threshold", "ThresholdMetricId",
                     "TreatMissingData", "Unit"}


def _code_zip(marker: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", f"# {marker}\ndef handler(event, context):\n    return event\n")
    return buffer.getvalue()


def _deploy(harness: StepFunctionsHarness, template: Mapping[str, Any], res: TemplateResolver,
            stack: str) -> DeployedStack:
    """Topics, queues, functions (tiny zip; versions 1..served, then one per AWS::Lambda::Version),
    aliases, alarms (metric math and percentiles too), state machines; the definition's Fn::Join is
    resolved to text and created with a dummy role. Other resources are not created."""
    out = DeployedStack(res)
    arn = f"arn:{res.pseudo['AWS::Partition']}:%s:{harness.region}:{harness.account}:%s"
    sns, lam, cw = harness.client("sns"), harness.client("lambda"), harness.client("cloudwatch")
    for logical, props in res.resources("AWS::SNS::Topic").items():
        name = res.resolve(props.get("TopicName", f"{stack}-{logical}"))
        topic = sns.create_topic(Name=name)["TopicArn"]
        res.set(logical, {"Ref": topic, "TopicArn": topic, "TopicName": name})
        out.topics[logical] = topic
    for logical, props in res.resources("AWS::SQS::Queue").items():
        name = res.resolve(props.get("QueueName", f"{stack}-{logical}"[:80]))
        url = harness.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        res.set(logical, {"Ref": url, "QueueUrl": url, "QueueName": name, "Arn": arn % ("sqs", name)})
        out.queues[logical] = url
    by_name: dict[str, str] = {}
    for logical, props in res.resources("AWS::Lambda::Function").items():
        name = res.resolve(props.get("FunctionName", f"{stack}-{logical}"[:64]))
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=harness.role_arn, Handler="index.handler",
                            Code={"ZipFile": _code_zip("0")})
        res.set(logical, {"Ref": name, "Arn": arn % ("lambda", f"function:{name}")})
        out.functions[logical], by_name[name] = name, logical

    def function_of(props: Mapping[str, Any]) -> str:
        return str(res.resolve(props["FunctionName"])).rsplit("function:", 1)[-1].split(":")[0]

    def publish(name: str) -> str:
        lam.update_function_code(FunctionName=name, ZipFile=_code_zip(str(time.monotonic_ns())))
        return str(lam.publish_version(FunctionName=name)["Version"])

    aliases = res.resources("AWS::Lambda::Alias")
    for name in by_name:
        served = [int(v) for p in aliases.values() if function_of(p) == name
                  and isinstance(v := p.get("FunctionVersion"), str) and v.isdigit()]
        for _ in range(max(served, default=0)):
            publish(name)
    for logical, props in res.resources("AWS::Lambda::Version").items():
        name = function_of(props)
        version = publish(name)
        res.set(logical, {"Ref": arn % ("lambda", f"function:{name}:{version}"), "Version": version})
        out.versions[logical] = version
    for logical, props in aliases.items():
        name, p = function_of(props), res.resolve({k: v for k, v in props.items() if k != "ProvisionedConcurrencyConfig"})
        created = lam.create_alias(FunctionName=name, Name=p["Name"], FunctionVersion=str(p["FunctionVersion"]),
                                   **({"RoutingConfig": p["RoutingConfig"]} if "RoutingConfig" in p else {}))
        res.set(logical, {"Ref": created["AliasArn"]})
        out.aliases[logical] = created["AliasArn"]
    for logical, props in res.resources("AWS::CloudWatch::Alarm").items():
        p = res.resolve({k: v for k, v in props.items() if k in _ALARM_PROPERTIES})
        p.setdefault("AlarmName", f"{stack}-{logical}")
        cw.put_metric_alarm(**p)
        res.set(logical, {"Ref": p["AlarmName"], "Arn": arn % ("cloudwatch", f"alarm:{p['AlarmName']}")})
        out.alarms[logical] = p["AlarmName"]
    for logical, props in res.resources("AWS::StepFunctions::StateMachine").items():
        body = props.get("DefinitionString", props.get("Definition"))
        text = res.resolve(body)
        text = text if isinstance(text, str) else json.dumps(text)
        for key, value in res.resolve(props.get("DefinitionSubstitutions", {})).items():
            text = text.replace("${" + key + "}", str(value))
        name = res.resolve(props.get("StateMachineName", f"{stack}-{logical}"[:80]))
        created = harness.client("stepfunctions").create_state_machine(
            name=name, definition=text, roleArn=harness.role_arn, type=props.get("StateMachineType", "STANDARD"))
        res.set(logical, {"Ref": created["stateMachineArn"], "Arn": created["stateMachineArn"], "Name": name})
        out.state_machines[logical], out.definitions[logical] = created["stateMachineArn"], text
    return out


# -- moto patches ------------------------------------------------------------------------------


def _swap(stack: ExitStack, owner: Any, attribute: str, value: Any) -> None:
    original = getattr(owner, attribute)
    setattr(owner, attribute, value)
    stack.callback(setattr, owner, attribute, original)


def _jsonata_evaluator(clock: EmulatedClock | SteppedClock) -> Callable[[str], Any]:
    from jsonata.functions import Functions  # type: ignore[import-untyped]
    from jsonata.jsonata import Jsonata  # type: ignore[import-untyped]
    from moto.stepfunctions.parser.asl.jsonata.jsonata import JSONataException

    class Call(Jsonata.JFunctionCallable):  # type: ignore[misc]
        def __init__(self, function: Callable[..., Any]) -> None:
            self.function = function

        def call(self, input: Any, args: Sequence[Any] | None) -> Any:
            return self.function(*(args or []))

    def evaluate(expression: str) -> Any:
        ms = clock.millis()  # one instant per expression, like JSONata's own $now()/$millis()
        try:
            compiled = Jsonata(expression)
            compiled.register_function("millis", Jsonata.JFunction(Call(lambda: ms), "<:n>"))
            compiled.register_function("now", Jsonata.JFunction(
                Call(lambda picture=None, zone=None: Functions.datetime_from_millis(ms, picture, zone)), "<s?s?:s>"))
            return compiled.evaluate(None)
        except Exception as ex:  # moto's own (JVM) bridge wraps every failure the same way
            raise JSONataException(str(getattr(ex, "error", None) or type(ex).__name__), str(ex)) from ex

    return evaluate


def _patch_interpreter(stack: ExitStack, harness: StepFunctionsHarness, aws_error_names: bool) -> None:
    import moto.stepfunctions.parser.asl.parse.asl_parser  # noqa: F401  (imports every component module)
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.api import EvaluationFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringJSONata
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state import state as state_module
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import timestamp as wait_timestamp
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.eval import states as states_module
    from moto.stepfunctions.parser.asl.eval import variable_store
    from moto.stepfunctions.parser.asl.eval.event import event_manager
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.parser.backend import execution as backend_execution
    from moto.stepfunctions.parser.utils import TMP_THREADS

    clock = harness.clock
    # 1. moto's JSONata evaluator is a None placeholder (it was a JVM bridge in LocalStack).
    _swap(stack, moto_jsonata, "_eval_jsonata", _jsonata_evaluator(clock))

    # 2. moto writes string variables as '"' + value + '"' unescaped: one variable holding a quote or a
    #    backslash (an error Cause, say) breaks every later expression of the execution. JSON-encode all.
    def encode(bindings: Mapping[str, Any]) -> str:
        return "".join(f"{ref}:={to_json_str(value, separators=(',', ':'))};" for ref, value in bindings.items())
    for module in (moto_jsonata, states_module, variable_store):
        _swap(stack, module, "encode_jsonata_variable_declarations", encode)

    # 3. A JSONata error (type error, bad syntax) fails the state with States.QueryEvaluationError as
    #    on AWS; moto lets it escape as States.Runtime (which AWS's States.ALL would not even catch).
    original_eval_body = StringJSONata._eval_body

    def eval_body(self: Any, env: Any) -> None:
        try:
            original_eval_body(self, env)
        except moto_jsonata.JSONataException as ex:
            name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
            details = EventDetails(evaluationFailedEventDetails=EvaluationFailedEventDetails(  # type: ignore[typeddict-item]
                error=name.error_name, cause=f"The JSONata expression '{self.expression}' threw an error: {ex.details}"))
            env.event_manager.add_event(context=env.event_history_context,
                                        event_type=HistoryEventType.EvaluationFailed, event_details=details)
            raise FailureEventException(FailureEvent(env=env, error_name=name,
                                                     event_type=HistoryEventType.EvaluationFailed,
                                                     event_details=details)) from ex
    _swap(stack, StringJSONata, "_eval_body", eval_body)

    # 4. Wait states sleep on the clock (moto: Event.wait in real seconds), still cut short when the
    #    execution stops; Retry back-off too (moto: time.sleep).
    _swap(stack, WaitFunction, "_wait_interval",
          lambda self, env, wait_seconds: clock.sleep(wait_seconds, cancelled=lambda: not env.is_running()))
    retrying = threading.local()  # the execution whose Retry is backing off on this thread
    original_retrier_body = retrier_decl.RetrierDecl._eval_body

    def retrier_body(self: Any, env: Any) -> None:
        retrying.env = env
        try:
            original_retrier_body(self, env)
        finally:
            retrying.env = None

    def back_off(seconds: float) -> None:
        env = getattr(retrying, "env", None)
        clock.sleep(seconds, cancelled=None if env is None else (lambda: not env.is_running()))
    _swap(stack, retrier_decl.RetrierDecl, "_eval_body", retrier_body)
    _swap(stack, retrier_decl, "time", types.SimpleNamespace(sleep=back_off))

    # 5. The state machine's TimeoutSeconds counts clock seconds (moto: Thread.join(timeout) in real ones).
    #    The stepped clock moves only inside a wait, so the wait that reaches the deadline times the
    #    execution out there, and ends.
    def program_eval(self: Any, env: Any) -> None:
        timeout = self.timeout_seconds.timeout_seconds if self.timeout_seconds else None
        env.next_state_name = self.start_at.start_at_name
        deadline = None if timeout is None else clock.now() + timeout
        cancel = (clock.at(deadline, lambda now: env.set_timed_out())
                  if deadline is not None and isinstance(clock, SteppedClock) else None)
        worker = threading.Thread(target=super(Program, self).eval, args=(env,), daemon=True)
        TMP_THREADS.append(worker)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(POLL_S)
                if deadline is not None and worker.is_alive() and clock.now() >= deadline:
                    env.set_timed_out()
                    return
        finally:
            if cancel is not None:
                cancel()
    _swap(stack, Program, "eval", program_eval)

    # 6. Everything the interpreter stamps with datetime.now() reads the clock: history timestamps,
    #    start/stop dates, Execution.StartTime, State.EnteredTime, Timestamp waits (naive now() is UTC
    #    here; moto's compares local time with a UTC timestamp).
    class ClockDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz: _dt.tzinfo | None = None) -> _dt.datetime:  # type: ignore[override]
            aware = clock.datetime()
            return aware.astimezone(tz) if tz is not None else aware.replace(tzinfo=None)
    shim = types.ModuleType("datetime")
    shim.__dict__.update(vars(_dt))
    shim.datetime = ClockDatetime  # type: ignore[attr-defined]
    for module in (state_module, wait_timestamp, event_manager, parser_models, backend_execution):
        _swap(stack, module, "datetime", shim)

    # 7. The interpreter's boto3 clients get fault injection and recording; the test's do not.
    original_client_for = boto_client.boto_client_for

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        return harness.instrument(original_client_for(region, service, state_credentials))
    patched = [m for name, m in list(sys.modules.items()) if name.startswith("moto.stepfunctions.parser")
               and getattr(m, "boto_client_for", None) is original_client_for]
    for module in patched:
        _swap(stack, module, "boto_client_for", client_for)
    assert state_task_service_aws_sdk in patched, "moto moved boto_client_for: the harness needs updating"

    # 8. aws-sdk error names as AWS spells them (Lambda.TooManyRequestsException, not lambda.…).
    if aws_error_names:
        names = state_task_service_aws_sdk._SERVICE_ERROR_NAMES
        added = {k: v for k, v in AWS_ERROR_SERVICE_NAMES.items() if k not in names}
        names.update(added)
        stack.callback(lambda: [names.pop(k, None) for k in added])


@contextmanager
def stepfunctions_in_moto(*, clock: EmulatedClock | SteppedClock | None = None, region: str = "us-east-1",
                          account: str = "123456789012", aws_error_names: bool = True) -> Iterator[StepFunctionsHarness]:
    """In-process moto that executes state machines, with the patches above; all undone on exit.

    `account` becomes MOTO_ACCOUNT_ID for the block (templates synthesized for an account keep
    their literal ARNs valid). `aws_error_names=False` keeps moto's own aws-sdk error names.
    """
    import os

    from moto import mock_aws

    if not _ACTIVE.acquire(blocking=False):
        raise RuntimeError("one stepfunctions_in_moto() at a time: its patches are process-wide")
    try:
        with ExitStack() as stack:
            saved = os.environ.get("MOTO_ACCOUNT_ID")
            os.environ["MOTO_ACCOUNT_ID"] = account
            stack.callback(lambda: os.environ.__setitem__("MOTO_ACCOUNT_ID", saved) if saved is not None
                           else os.environ.pop("MOTO_ACCOUNT_ID", None))
            stack.enter_context(mock_aws(config=MOTO_CONFIG))  # type: ignore[call-overload]
            harness = StepFunctionsHarness(clock or EmulatedClock(), region, account)
            _patch_interpreter(stack, harness, aws_error_names)
            stack.callback(harness._stop_running)  # runs first: executions end while patches still hold
            yield harness
    finally:
        _ACTIVE.release()
