"""The `agent.yaml` schema: one pydantic model per section, the single source of truth.

Every model forbids unknown keys and is frozen. The JSON Schema for editors is generated from
these models (`deployer schema`). Rules that span sections live in `deployer.compiler`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from deployer.spec.backtracking import backtracking_risk
from deployer.spec.evaluation import EvaluationSpec
from deployer.spec.model import ModelSpec
from deployer.spec.section import Section
from deployer.spec.types import (
    ACCOUNT_PATTERN,
    EMAIL_PATTERN,
    ENTRYPOINT_PATTERN,
    REGION_PATTERN,
    STATISTIC_PATTERN,
    AgentName,
    Duration,
    EnvironmentName,
    FieldProblem,
    HttpsUrl,
    Identifier,
    LambdaTimeout,
    SecretOrLoopbackUrl,
    SecretRef,
    check_python_version,
)


class CodeSpec(Section):
    """Where the agent's code lives."""

    path: str = Field(".", description="directory holding the agent code, relative to agent.yaml")
    entrypoint: str = Field(
        pattern=ENTRYPOINT_PATTERN,
        description="module:Class of the agent inside `path`, e.g. router_agent:SupportRouter",
    )
    artifacts: list[str] = Field(default_factory=list, description="files shipped with the code, relative to `path`")
    requirements: list[str] = Field(default_factory=list, description="extra runtime packages for the Lambda bundle")


class RuntimeSpec(Section):
    """The Lambda function's runtime settings."""

    python: Annotated[Literal["3.11", "3.12", "3.13"], BeforeValidator(check_python_version)] = Field(
        "3.12", description='the Lambda Python version, quoted ("3.12")')
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    memory_mb: int = Field(512, ge=128, le=10240)
    timeout: LambdaTimeout = Field(30.0, description="function timeout, whole seconds from 1s to 15m")
    max_payload_kb: int = Field(256, ge=1, le=6144, description="largest request body accepted")
    tracing: bool = Field(True, description="AWS X-Ray active tracing")


class MonitorOverride(Section):
    log_inputs: bool | None = None
    log_outputs: bool | None = None
    log_latency: bool | None = None
    log_errors: bool | None = None
    sample_rate: float | None = Field(None, ge=0, le=1)


class ActionSpec(Section):
    description: str = ""
    timeout: Duration | None = Field(None, gt=0, description="defaults to the function timeout")
    memory_mb: int | None = Field(None, ge=128, le=10240, description="raises the function memory if larger")
    side_effects: bool = Field(False, description="replay refuses unless --allow-side-effects")
    max_payload_kb: int | None = Field(None, ge=1, le=6144)
    monitoring: MonitorOverride | None = None


BuiltinRedaction = Literal["email", "phone", "card_number", "iban", "aws_key", "bearer_token", "api_key"]


class RedactionPattern(Section):
    name: Identifier
    pattern: str = Field(min_length=1, max_length=1000,
                         description="a Python regular expression that cannot backtrack catastrophically")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except (re.error, RecursionError, OverflowError) as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        risk = backtracking_risk(value)
        if risk:
            raise ValueError(risk)
        return value


LogRetention = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]


def _default_redaction() -> list[BuiltinRedaction | RedactionPattern]:
    return ["email", "phone", "card_number", "iban", "aws_key", "bearer_token", "api_key"]


class MonitoringSpec(Section):
    log_inputs: bool = True
    log_outputs: bool = True
    log_latency: bool = True
    log_errors: bool = True
    sample_rate: float = Field(1.0, ge=0, le=1, description="share of successful requests whose input/output is kept; errors always")
    redaction: list[BuiltinRedaction | RedactionPattern] = Field(
        default_factory=_default_redaction,
        description="built-in patterns and your own {name, pattern}; aws_key, bearer_token and api_key always apply "
                    "(docs/runtime.md, Redaction)")
    log_retention_days: LogRetention = 30
    record_ttl_days: int = Field(7, ge=1, le=365, description="how long request records are kept for errors/replay")


class SloSpec(Section):
    latency_p50_ms: float | None = Field(None, gt=0)
    latency_p95_ms: float | None = Field(None, gt=0)
    latency_p99_ms: float | None = Field(None, gt=0)
    error_rate_pct: float | None = Field(None, ge=0, le=100)
    cost_per_request_usd: float | None = Field(None, ge=0)
    memory_max_mb: float | None = Field(None, gt=0)
    memory_growth_mb_per_10k: float | None = Field(None, ge=0, description="allowed memory growth per 10,000 requests")
    min_samples: int = Field(100, ge=1, description="fewest requests on which a percentile is judged")


AlertKind = Literal["error_rate", "latency", "cost_per_request", "cost_spike", "confidence_drop"]
MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]


class AlertSpec(Section):
    kind: AlertKind = Field(
        description="error_rate (threshold in %), latency (ms), cost_per_request (USD), "
        "cost_spike (multiple of the budgeted spend), confidence_drop (mean confidence below)"
    )
    threshold: float = Field(ge=0)
    statistic: str | None = Field(None, pattern=STATISTIC_PATTERN, description="latency only; default p99")
    window: Duration = Field(60.0, gt=0, description="the alarm period: 10s, 30s or a multiple of 60s")
    evaluation_periods: int = Field(1, ge=1, le=100)
    datapoints_to_alarm: int | None = Field(None, ge=1)
    missing_data: MissingData = "notBreaching"
    action: str | list[str] = Field(description="notification name(s) to alert")
    severity: Literal["critical", "warning", "info"] = "critical"
    rollback: bool = Field(True, description="also watch each rollout's new version with this condition and roll it back when it fires")
    description: str = ""


class PagerDutyTarget(Section):
    type: Literal["pagerduty"]
    routing_key: SecretRef | None = Field(None, description="reference to the Events v2 routing key")
    url: HttpsUrl = "https://events.pagerduty.com/v2/enqueue"


class SlackTarget(Section):
    type: Literal["slack"]
    webhook_url: SecretOrLoopbackUrl = Field(description="reference to the incoming-webhook URL")


class EmailTarget(Section):
    type: Literal["email"]
    addresses: list[Annotated[str, Field(pattern=EMAIL_PATTERN)]] = Field(min_length=1)


class WebhookTarget(Section):
    type: Literal["webhook"]
    url: HttpsUrl
    secret: SecretRef | None = Field(None, description="reference to a shared secret sent as a bearer token")


NotificationSpec = Annotated[
    PagerDutyTarget | SlackTarget | EmailTarget | WebhookTarget, Field(discriminator="type")
]


class AbortSpec(Section):
    """Conditions that roll a rollout back; each becomes an alarm on the new version."""

    error_rate_pct: float | None = Field(None, ge=0, le=100)
    latency_p99_ms: float | None = Field(None, gt=0)
    latency_p95_ms: float | None = Field(None, gt=0)
    cost_per_request_usd: float | None = Field(None, ge=0)
    period: Duration = Field(60.0, gt=0)
    evaluation_periods: int = Field(1, ge=1, le=10)
    datapoints_to_alarm: int | None = Field(None, ge=1)
    missing_data: MissingData = "notBreaching"


class RolloutCommon(Section):
    abort: AbortSpec | None = Field(None, description="defaults to the SLOs' error rate, p99 and cost")
    alarms: list[str] | None = Field(None, description="alerts that gate the rollout; default: those with rollback: true")
    min_requests_per_step: int = Field(
        100, ge=0, le=1_000_000,
        description="requests the new version must complete in a step before it moves on (evidence; 0 moves on time alone)")
    notify: list[str] = Field(default_factory=list,
                              description="notifications told how a rollout ended; default: the targets of the gating alerts")


class CanaryRollout(RolloutCommon):
    strategy: Literal["canary"]
    initial_percent: float = Field(10, gt=0, lt=100)
    bake: Duration = Field(300.0, gt=0)


class LinearRollout(RolloutCommon):
    strategy: Literal["linear"]
    step_percent: float = Field(10, gt=0, lt=100)
    interval: Duration = Field(60.0, gt=0)


class RolloutStepSpec(Section):
    percent: float = Field(gt=0, le=100)
    bake: Duration = 0.0


class StepsRollout(RolloutCommon):
    strategy: Literal["steps"]
    steps: list[RolloutStepSpec] = Field(min_length=1)


class AllAtOnceRollout(RolloutCommon):
    strategy: Literal["all_at_once"]


RolloutSpec = Annotated[
    CanaryRollout | LinearRollout | StepsRollout | AllAtOnceRollout, Field(discriminator="strategy")
]


class TrafficSpec(Section):
    requests_per_day: float | None = Field(None, ge=0)
    requests_per_month: float | None = Field(None, ge=0)
    requests_per_second: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> TrafficSpec:
        given = [v for v in (self.requests_per_day, self.requests_per_month, self.requests_per_second) if v is not None]
        if not given:
            raise ValueError("give one of requests_per_day, requests_per_month, requests_per_second")
        if len(given) > 1:
            names = [n for n in ("requests_per_day", "requests_per_month", "requests_per_second") if getattr(self, n) is not None]
            raise FieldProblem(names[1], f"give only one of {', '.join(names)}; they say the same thing")
        return self

    def per_month(self) -> float:
        if self.requests_per_month is not None:
            return self.requests_per_month
        if self.requests_per_day is not None:
            return self.requests_per_day * 30
        return (self.requests_per_second or 0.0) * 86400 * 30


class LoadTestSpec(Section):
    rps: float = Field(10, gt=0, le=100_000)
    duration: Duration = Field(30.0, gt=0, le=86400)
    users: int = Field(10, ge=1, le=100_000)
    input_file: str | None = Field(None, description="JSON lines of action inputs, relative to agent.yaml")
    distribution: Literal["uniform", "weighted", "replay"] = "uniform"
    weight_field: str | None = Field(None, description="field of each input line holding its weight (weighted)")
    action: str | None = Field(None, description="the action to load; defaults to the first")
    concurrency: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _weights(self) -> LoadTestSpec:
        if self.distribution == "weighted" and not self.weight_field:
            raise FieldProblem("distribution", "distribution weighted needs weight_field (the input field holding each weight)")
        return self


class BudgetSpec(Section):
    monthly_usd: float = Field(gt=0, description="what a month of this agent may cost")


#: Sections an environment may override; its values deep-merge into the top-level section.
OVERRIDABLE = ("model", "monitoring", "slos", "alerts", "notifications", "rollout", "budget")


class EnvironmentSpec(Section):
    target: Literal["local", "aws"] = Field("aws", description="local: the emulator; aws: a real account")
    region: str = Field("us-east-1", pattern=REGION_PATTERN)
    account: str | None = Field(None, pattern=ACCOUNT_PATTERN)
    memory_mb: int | None = Field(None, ge=128, le=10240)
    timeout: LambdaTimeout | None = Field(None, description="overrides runtime.timeout")
    reserved_concurrency: int | None = Field(None, ge=0)
    provisioned_concurrency: int | None = Field(None, ge=0)
    expected_traffic: TrafficSpec | None = None
    load_test: LoadTestSpec | None = None
    model: dict[str, Any] | None = Field(None, description="overrides of the model section")
    monitoring: dict[str, Any] | None = Field(None, description="overrides of the monitoring section")
    slos: dict[str, Any] | None = Field(None, description="overrides of the slos section")
    alerts: dict[str, Any] | None = Field(None, description="overrides of alerts, by name")
    notifications: dict[str, Any] | None = Field(None, description="overrides of notifications, by name")
    rollout: dict[str, Any] | None = Field(None, description="overrides of the rollout section")
    budget: dict[str, Any] | None = Field(None, description="overrides of the budget section")


class AgentSpec(Section):
    """An agent: its code, model, actions, SLOs, alerts, rollout policy and environments."""

    name: AgentName
    description: str = Field("", description="what the agent does, for people")
    code: CodeSpec = Field(description="where the agent class lives")
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec, description="the Lambda function's runtime")
    model: ModelSpec = Field(description="the model behind the agent: provider, id, timeouts, prices")
    actions: dict[Identifier, ActionSpec | None] = Field(min_length=1, description="the agent's actions, by method name")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec, description="what is logged, sampled and redacted")
    slos: SloSpec = Field(default_factory=SloSpec, description="the targets the load test gates on")
    alerts: dict[Identifier, AlertSpec] = Field(default_factory=dict, description="alarms that notify someone, by name")
    notifications: dict[Identifier, NotificationSpec] = Field(default_factory=dict, description="who gets alerted, by name")
    rollout: RolloutSpec = Field(default_factory=lambda: CanaryRollout(strategy="canary"),
                                 description="how a new version takes traffic (default: canary 10% for 5m)")
    environments: dict[EnvironmentName, EnvironmentSpec] = Field(min_length=1, description="where it runs, by name")
    budget: BudgetSpec | None = Field(None, description="the monthly budget; cost_spike alerts are relative to it")
    evaluation: EvaluationSpec | None = Field(None, description="answer quality: a labelled set and how a version "
                                                               "passes; optionally compared online in each canary")
