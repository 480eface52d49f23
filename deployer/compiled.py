"""The compiled deployment model: what one environment of an agent becomes.

`compile_environment` (in `deployer.compiler`) turns a validated `AgentSpec` into one
`DeploymentModel` per environment. Every backend (infra/, the local emulator, the load test,
operations) reads this model and never the YAML. It is plain frozen dataclasses so that it is
cheap to build, trivially serialisable (`to_dict`) and safe to share.

Units are in the names: `_s` seconds, `_ms` milliseconds, `_mb` megabytes, `_pct` percent
(0-100), `_usd` US dollars.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Provider = Literal["python", "ollama", "bedrock", "openai"]
Strategy = Literal["canary", "linear", "steps", "all_at_once"]
RolloutEngine = Literal["codedeploy", "stepfunctions"]
MissingData = Literal["breaching", "notBreaching", "ignore", "missing"]
Comparison = Literal[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
]
AlarmKind = Literal["error_rate", "latency", "cost_per_request", "cost_spike", "confidence_drop"]
#: What an alarm watches: "version" the metrics of one function version (the candidate of a
#: rollout: these alarms gate it), "service" the metrics of every version together (what users
#: get, whichever version serves them: these alarms notify people).
AlarmScope = Literal["version", "service"]
LowSamplePolicy = Literal["evaluate", "ignore"]
NotificationKind = Literal["pagerduty", "slack", "email", "webhook"]
Distribution = Literal["uniform", "weighted", "replay"]

#: CloudWatch namespace of live traffic. Replays go to `REPLAY_NAMESPACE` so that they never
#: count against a canary's alarms.
METRIC_NAMESPACE = "Deployer"
REPLAY_NAMESPACE = "Deployer/Replay"
#: Dimension sets of every EMF line: per version (what canary alarms watch) and per environment.
VERSION_DIMENSIONS = ("Agent", "Environment", "Version")
ENVIRONMENT_DIMENSIONS = ("Agent", "Environment")
ALIAS_NAME = "live"

#: Lambda price anchors (x86, us-east-1). arm64 is 20 % cheaper per GB-second.
LAMBDA_GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST_USD = 0.20 / 1_000_000


@dataclass(frozen=True)
class Pricing:
    input_per_1k_usd: float = 0.0
    output_per_1k_usd: float = 0.0


@dataclass(frozen=True)
class ModelConfig:
    """How the runtime reaches the model. Secrets are references (`ssm:/...`), never values."""

    provider: Provider
    model_id: str
    endpoint: str | None
    region: str | None
    api_key: str | None
    parameters: dict[str, Any]
    timeout_s: float
    retries: int
    pricing: Pricing
    confidence_threshold: float | None


@dataclass(frozen=True)
class Redaction:
    builtins: tuple[str, ...]  # of: email, phone, card_number, iban, aws_key, bearer_token, api_key
    patterns: tuple[tuple[str, str], ...]  # (name, regex), checked not to backtrack catastrophically


@dataclass(frozen=True)
class MonitoringPolicy:
    log_inputs: bool
    log_outputs: bool
    log_latency: bool
    log_errors: bool
    sample_rate: float
    redaction: Redaction


@dataclass(frozen=True)
class ActionModel:
    """One action. `monitoring` is its final spec policy (action-level fields over the top
    level); `monitoring_pinned` names the fields the spec set at action level, which `@monitor`
    on the method cannot change (the runtime applies `@monitor` to the others)."""

    name: str
    timeout_s: float
    memory_mb: int
    side_effects: bool
    max_payload_bytes: int
    monitoring: MonitoringPolicy
    description: str = ""
    monitoring_pinned: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeModel:
    """Where the agent lives. Paths are absolute, resolved against the spec's directory."""

    root: str
    module: str
    class_name: str
    artifacts: tuple[str, ...]
    requirements: tuple[str, ...]

    @property
    def entrypoint(self) -> str:
        return f"{self.module}:{self.class_name}"


@dataclass(frozen=True)
class FunctionModel:
    name: str
    python: str  # "3.12"
    architecture: Literal["x86_64", "arm64"]
    memory_mb: int
    timeout_s: int
    reserved_concurrency: int | None
    provisioned_concurrency: int | None
    tracing: bool
    log_retention_days: int
    environment: dict[str, str]

    @property
    def lambda_runtime(self) -> str:
        return f"python{self.python}"


@dataclass(frozen=True)
class AlarmModel:
    """One CloudWatch alarm on the runtime's EMF metrics, scoped to the deployed version.

    `metric` is the metric name; for `error_rate` the alarm is metric math
    `100 * Errors / Invocations` (both Sum) and `metric` is "ErrorRate".
    `statistic` is a CloudWatch statistic: Sum, Average, Minimum, Maximum or pNN.
    """

    name: str
    kind: AlarmKind
    source: Literal["slo", "abort", "alert"]
    metric: str
    statistic: str
    comparison: Comparison
    threshold: float
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int
    missing_data: MissingData
    notify: tuple[str, ...]
    gates_rollout: bool
    severity: Literal["critical", "warning", "info"]
    description: str
    scope: AlarmScope = "version"
    #: CloudWatch's EvaluateLowSampleCountPercentile: "ignore" keeps the state while a period has
    #: too few samples for its percentile (the compiler sets it for every percentile statistic).
    low_sample: LowSamplePolicy = "evaluate"

    @property
    def window_s(self) -> int:
        return self.period_s * self.evaluation_periods


@dataclass(frozen=True)
class NotificationModel:
    """A notification target. `endpoint` is a URL, a secret reference or an email address."""

    name: str
    kind: NotificationKind
    endpoint: str
    routing_key: str | None
    addresses: tuple[str, ...]
    topic_name: str


@dataclass(frozen=True)
class RolloutStep:
    """One step of a rollout, with the evidence it needs before the next one.

    The step holds at least `bake_s`. It moves on only when the candidate has completed at least
    `min_requests` requests in the step and every gating alarm has evaluated a full window
    holding candidate data (`RolloutModel.evidence`); if that does not happen within
    `hold_limit_s` the rollout rolls back. The final (100 %) step holds `RolloutModel.watch_s`
    instead, needs no evidence and has both limits at 0.
    """

    percent: float  # traffic on the new version during this step
    bake_s: int  # least time to hold before the next step (0 on the final 100 % step)
    hold_limit_s: int = 0  # most time to wait for the evidence before rolling back
    min_requests: int = 0  # completed requests of the new version needed in this step
    metric_period_s: int = 60  # granularity of the traffic query (GetMetricStatistics returns <= 1,440 points)


@dataclass(frozen=True)
class EvidenceWindow:
    """A gating alarm's evaluation window, as the evidence rule reads it (period and window
    rounded up to whole minutes: traffic is counted per minute)."""

    alarms: tuple[str, ...]  # the gating alarms with this window
    period_s: int
    window_s: int


@dataclass(frozen=True)
class CodeDeployConfig:
    kind: Literal["canary", "linear", "all_at_once"]
    percentage: int  # whole percents: CodeDeploy shifts nothing else
    interval_minutes: int
    name: str


@dataclass(frozen=True)
class QualityGateModel:
    """A canary's answers against the stable version's over the same step (both engines read it).

    At each check of a step below 100 %, once both versions have `min_samples` answers since the
    step began: the distribution of `field` over `labels` (a chi-square test of homogeneity, its
    statistic above `chi_square_critical`, and a total variation above `max_shift`) and the share of
    answers below the confidence threshold (a two-proportion z above `z_critical`, and a rise above
    `max_shift`). Either rolls the canary back.
    """

    field: str | None
    labels: tuple[str, ...]
    low_confidence: bool
    confidence_threshold: float | None
    alpha: float
    min_samples: int
    max_shift: float
    chi_square_critical: float  # at alpha for len(labels) - 1 degrees of freedom (0 without labels)
    z_critical: float  # one-sided, at alpha


@dataclass(frozen=True)
class JudgeModel:
    """A model grading answers 0-1 against a rubric; `pass_score` and up counts as right."""

    model: ModelConfig
    rubric: str
    pass_score: float


@dataclass(frozen=True)
class EvaluationModel:
    """The offline evaluation of `deployer eval`: a labelled set and how a version passes."""

    data_file: str  # absolute path of the JSON lines
    action: str
    score_kind: Literal["label", "exact", "contains", "regex", "judge"]
    score_field: str | None
    min_accuracy: float | None
    min_macro_f1: float | None
    max_regression: float
    alpha: float
    concurrency: int
    limit: int | None
    judge: JudgeModel | None = None


@dataclass(frozen=True)
class RolloutModel:
    """Every number of the rollout; the emulator's engine and the AWS engines only read them.

    `engine` is "stepfunctions" whenever the policy needs evidence (`min_requests_per_step` > 0):
    CodeDeploy moves on time alone. `check_interval_s` is how often alarms and traffic are read;
    `evaluation_delay_s` how long after a window closes its alarm has certainly evaluated it (EMF
    ingestion plus one evaluation); `watch_s` the hold after 100 % (0 with CodeDeploy, which stops
    watching when the shift completes); `max_duration_s` the whole rollout's limit, after which it
    rolls back.
    """

    strategy: Strategy
    steps: tuple[RolloutStep, ...]
    engine: RolloutEngine
    codedeploy: CodeDeployConfig | None
    gating_alarms: tuple[str, ...]
    min_requests_per_step: int
    notify: tuple[str, ...]
    evidence: tuple[EvidenceWindow, ...] = ()
    check_interval_s: int = 60
    evaluation_delay_s: int = 0
    watch_s: int = 0
    max_duration_s: int = 0
    quality: QualityGateModel | None = None

    @property
    def total_bake_s(self) -> int:
        return sum(step.bake_s for step in self.steps)


@dataclass(frozen=True)
class SloModel:
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    error_rate_pct: float | None
    cost_per_request_usd: float | None
    memory_max_mb: float | None
    memory_growth_mb_per_10k: float | None
    min_samples: int


@dataclass(frozen=True)
class LoadProfile:
    rps: float
    duration_s: int
    users: int
    input_file: str | None  # absolute path
    distribution: Distribution
    weight_field: str | None
    action: str
    concurrency: tuple[int, ...]


@dataclass(frozen=True)
class RequestLogModel:
    table_name: str
    ttl_days: int


@dataclass(frozen=True)
class CostModel:
    """Budget and the projection the compiler checked it against."""

    monthly_budget_usd: float | None
    expected_requests_per_month: float
    projected_monthly_usd: float | None  # expected traffic x cost-per-request SLO


@dataclass(frozen=True)
class DeploymentModel:
    agent: str
    description: str
    environment: str
    target: Literal["local", "aws"]  # "local": the emulator; "aws": a real account via CDK
    region: str
    account: str | None
    spec_file: str
    spec_hash: str  # stable hash of this model without itself; changes on any config change
    code: CodeModel
    function: FunctionModel
    alias: str
    model: ModelConfig
    actions: tuple[ActionModel, ...]
    monitoring: MonitoringPolicy
    slos: SloModel
    alarms: tuple[AlarmModel, ...]
    notifications: tuple[NotificationModel, ...]
    rollout: RolloutModel
    request_log: RequestLogModel
    cost: CostModel
    load: LoadProfile
    evaluation: EvaluationModel | None = None
    warnings: tuple[str, ...] = field(default=())

    def action(self, name: str) -> ActionModel | None:
        return next((a for a in self.actions if a.name == name), None)

    def alarm(self, name: str) -> AlarmModel | None:
        return next((a for a in self.alarms if a.name == name), None)

    def notification(self, name: str) -> NotificationModel | None:
        return next((n for n in self.notifications if n.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = _plain(dataclasses.asdict(self))
        return plain

    def runtime_config(self) -> dict[str, Any]:
        """The resolved spec baked into the Lambda bundle as JSON (read by handlers/)."""
        data = self.to_dict()
        keep = ("agent", "environment", "target", "spec_hash", "code", "function", "model", "actions",
                "monitoring", "request_log")
        out = {key: data[key] for key in keep}
        out["metrics"] = {
            "namespace": METRIC_NAMESPACE,
            "replay_namespace": REPLAY_NAMESPACE,
            "dimensions": [list(VERSION_DIMENSIONS), list(ENVIRONMENT_DIMENSIONS)],
        }
        quality = self.rollout.quality
        out["quality"] = {"field": quality.field, "labels": list(quality.labels),
                          "low_confidence": quality.low_confidence,
                          "confidence_threshold": quality.confidence_threshold} if quality else None
        out["lambda_pricing"] = {
            "gb_second_usd": LAMBDA_GB_SECOND_USD[self.function.architecture],
            "request_usd": LAMBDA_REQUEST_USD,
        }
        return out


def _plain(value: Any) -> Any:
    """Tuples become lists so that the dict is JSON-ready and round-trips."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
