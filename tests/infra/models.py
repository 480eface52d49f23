"""Hand-built DeploymentModels for the infra tests and the synth benchmark.

They cover what the sample specs may not: both rollout engines, every notification kind and
every alarm kind. `model(...)` takes keyword overrides for the top-level fields.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from deployer.compiled import (
    ActionModel,
    AlarmModel,
    CodeModel,
    CostModel,
    DeploymentModel,
    FunctionModel,
    LoadProfile,
    ModelConfig,
    MonitoringPolicy,
    NotificationModel,
    Pricing,
    Redaction,
    RequestLogModel,
    SloModel,
)
from deployer.compiler.alarms import low_sample_policy
from deployer.compiler.rollout import plan_rollout

MONITORING = MonitoringPolicy(
    log_inputs=True, log_outputs=True, log_latency=True, log_errors=True, sample_rate=0.1,
    redaction=Redaction(builtins=("email",), patterns=()),
)


def alarm(name: str, kind: str, metric: str, statistic: str, threshold: float, *, period_s: int = 60,
          evaluation_periods: int = 1, datapoints: int = 1, comparison: str = "GreaterThanThreshold",
          missing: str = "notBreaching", notify: tuple[str, ...] = ("oncall",), gates: bool = True,
          source: str = "slo") -> AlarmModel:
    return AlarmModel(
        name=name, kind=kind, source=source, metric=metric, statistic=statistic,  # type: ignore[arg-type]
        comparison=comparison, threshold=threshold, period_s=period_s,  # type: ignore[arg-type]
        evaluation_periods=evaluation_periods, datapoints_to_alarm=datapoints,
        missing_data=missing, notify=notify, gates_rollout=gates,  # type: ignore[arg-type]
        severity="critical" if gates else "warning", description=f"{name} ({kind})",
        scope="version" if gates else "service", low_sample=low_sample_policy(statistic),
    )


def model(agent: str = "demo-agent", environment: str = "staging", *, engine: str = "stepfunctions",
          **overrides: Any) -> DeploymentModel:
    schedule = [(5.0, 300), (50.0, 300), (100.0, 0)]
    min_requests, strategy = 50, "steps"
    if engine == "codedeploy":
        schedule, min_requests, strategy = [(10.0, 300), (100.0, 0)], 0, "canary"
    alarms = (
        alarm("error-rate", "error_rate", "ErrorRate", "Sum", 2.0),
        alarm("latency-p99", "latency", "Latency", "p99", 2000.0, evaluation_periods=3, datapoints=2),
        alarm("cost-per-request", "cost_per_request", "CostUSD", "Average", 0.0001, period_s=300,
              missing="missing", notify=("chat",), gates=False, source="alert"),
        alarm("confidence-drop", "confidence_drop", "ModelConfidence", "Average", 0.6,
              comparison="LessThanThreshold", missing="ignore", notify=("chat", "mail"), gates=False,
              source="alert"),
    )
    base = DeploymentModel(
        agent=agent, description="A test agent", environment=environment, target="aws",
        region="eu-west-1", account="111111111111", spec_file="/tmp/agent.yaml",
        spec_hash="0123456789abcdef" * 4,
        code=CodeModel(root="/tmp/agent", module="agent_mod", class_name="Agent", artifacts=(),
                       requirements=()),
        function=FunctionModel(name=f"{agent}-{environment}", python="3.12", architecture="x86_64",
                               memory_mb=512, timeout_s=10, reserved_concurrency=50,
                               provisioned_concurrency=2, tracing=True, log_retention_days=30,
                               environment={"LOG_LEVEL": "INFO"}),
        alias="live",
        model=ModelConfig(provider="python", model_id="m:load", endpoint=None, region=None,
                          api_key="ssm:/demo/api-key", parameters={}, timeout_s=2.0, retries=0,
                          pricing=Pricing(), confidence_threshold=0.5),
        actions=(ActionModel(name="route", timeout_s=2.0, memory_mb=512, side_effects=False,
                             max_payload_bytes=65536, monitoring=MONITORING),),
        monitoring=MONITORING,
        slos=SloModel(latency_p50_ms=50, latency_p95_ms=200, latency_p99_ms=500, error_rate_pct=1,
                      cost_per_request_usd=0.0001, memory_max_mb=None, memory_growth_mb_per_10k=None,
                      min_samples=200),
        alarms=alarms,
        notifications=(
            NotificationModel(name="oncall", kind="pagerduty",
                              endpoint="https://events.pagerduty.com/v2/enqueue",
                              routing_key="ssm:/demo/pagerduty-routing-key", addresses=(),
                              topic_name=f"{agent}-{environment}-oncall"),
            NotificationModel(name="chat", kind="slack", endpoint="secretsmanager:demo/slack-webhook",
                              routing_key=None, addresses=(), topic_name=f"{agent}-{environment}-chat"),
            NotificationModel(name="mail", kind="email", endpoint="team@example.com", routing_key=None,
                              addresses=("team@example.com", "lead@example.com"),
                              topic_name=f"{agent}-{environment}-mail"),
        ),
        rollout=plan_rollout(schedule, [a for a in alarms if a.gates_rollout], min_requests=min_requests,
                             strategy=strategy, prefix=f"{agent}-{environment}", notify=("oncall",)),
        request_log=RequestLogModel(table_name=f"{agent}-{environment}-requests", ttl_days=7),
        cost=CostModel(monthly_budget_usd=50, expected_requests_per_month=120000,
                       projected_monthly_usd=12.0),
        load=LoadProfile(rps=10, duration_s=60, users=5, input_file=None, distribution="uniform",
                         weight_field=None, action="route", concurrency=()),
    )
    return dataclasses.replace(base, **overrides)
