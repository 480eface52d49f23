"""`deployer plan`: a person-readable view of one environment's DeploymentModel."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from deployer.compiled import AlarmModel, DeploymentModel
from deployer.spec.types import format_duration

_OPS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}
_UNITS = {"ErrorRate": "%", "Latency": " ms", "CostUSD": " USD", "ModelConfidence": ""}


def render_plan(model: DeploymentModel, console: Console | None = None) -> None:
    out = console or Console()
    fn = model.function
    out.print(f"[bold]{model.agent}[/] -> [bold]{model.environment}[/] ({model.target}, {model.region}"
              f"{', account ' + model.account if model.account else ''})  spec hash {model.spec_hash}")
    out.print(f"  function  {fn.name}: {fn.lambda_runtime} {fn.architecture}, {fn.memory_mb} MB, timeout {fn.timeout_s}s, "
              f"reserved concurrency {fn.reserved_concurrency or 'none'}, provisioned {fn.provisioned_concurrency or 'none'}, "
              f"X-Ray {'on' if fn.tracing else 'off'}, logs kept {fn.log_retention_days} days")
    out.print(f"  alias     {model.alias} (weighted routing between the stable and the new version); Function URL on the alias")
    out.print(f"  code      {model.code.entrypoint} in {model.code.root}")
    m = model.model
    out.print(f"  model     {m.provider} {m.model_id}{' at ' + m.endpoint if m.endpoint else ''}, timeout {m.timeout_s:g}s, "
              f"{m.retries} retries, ${m.pricing.input_per_1k_usd:g}/${m.pricing.output_per_1k_usd:g} per 1k tokens in/out"
              + (f", confidence threshold {m.confidence_threshold:g}" if m.confidence_threshold is not None else ""))
    for action in model.actions:
        mon = action.monitoring
        out.print(f"  action    {action.name}: timeout {action.timeout_s:g}s, payload <= {action.max_payload_bytes // 1024} KB, "
                  f"sample rate {mon.sample_rate:g}, redaction {', '.join(mon.redaction.builtins + tuple(n for n, _ in mon.redaction.patterns)) or 'none'}"
                  + (", side effects (replay needs --allow-side-effects)" if action.side_effects else ""))
    out.print(f"  records   table {model.request_log.table_name}, kept {model.request_log.ttl_days} days")
    out.print(_alarm_table(model.alarms))
    out.print(_rollout_table(model))
    out.print(_notification_table(model))
    load = model.load
    out.print(f"  load test {load.rps:g} rps for {load.duration_s}s with {load.users} users on {load.action!r}, inputs "
              f"{load.input_file or '(none: empty input)'} ({load.distribution}"
              f"{' by ' + load.weight_field if load.weight_field else ''})"
              + (f", concurrency sweep {', '.join(map(str, load.concurrency))}" if load.concurrency else ""))
    cost = model.cost
    projected = f"${cost.projected_monthly_usd:,.2f}/month" if cost.projected_monthly_usd is not None else "no cost SLO"
    budget = f"${cost.monthly_budget_usd:,.2f}" if cost.monthly_budget_usd is not None else "none"
    out.print(f"  cost      {cost.expected_requests_per_month:,.0f} requests/month expected; at the cost SLO: {projected}; budget {budget}")
    for warning in model.warnings:
        out.print(f"[yellow]  {warning}[/]")


def _alarm_table(alarms: tuple[AlarmModel, ...]) -> Table:
    table = Table(title="alarms (version: the new version of a rollout, gates it; service: every version, "
                        "notifies people)", title_justify="left")
    for column in ("name", "watches", "metric", "statistic", "fires when", "period x evals", "to alarm", "missing data",
                   "rolls back", "notifies"):
        table.add_column(column)
    for a in alarms:
        metric = "100*Errors/Invocations" if a.metric == "ErrorRate" else a.metric
        table.add_row(a.name, a.scope, metric, a.statistic + (" (ignores low samples)" if a.low_sample == "ignore" else ""),
                      f"{_OPS[a.comparison]} {a.threshold:g}{_UNITS.get(a.metric, '')}",
                      f"{a.period_s}s x {a.evaluation_periods}", f"{a.datapoints_to_alarm} of {a.evaluation_periods}",
                      a.missing_data, "yes" if a.gates_rollout else "no", ", ".join(a.notify) or "-")
    return table


def _rollout_table(model: DeploymentModel) -> Table:
    r = model.rollout
    if r.codedeploy:
        engine = f"CodeDeploy {r.codedeploy.name} (no evidence required: steps move on time alone)"
    else:
        windows = "; ".join(f"a full {format_duration(w.window_s)} window with new-version data for "
                            f"{', '.join(w.alarms)}" for w in r.evidence)
        engine = (f"Step Functions; each step needs {r.min_requests_per_step} requests"
                  + (f" and {windows}" if windows else "")
                  + f", evaluated {format_duration(r.evaluation_delay_s)} after the window closes"
                  + f"; checked every {format_duration(r.check_interval_s)}")
    table = Table(title=f"rollout: {r.strategy} via {engine}; gated by {', '.join(r.gating_alarms) or 'no alarms'}; "
                        f"notifies {', '.join(r.notify) or 'nobody'}",
                  title_justify="left")
    for column in ("step", "traffic on new version", "bake", "needs", "rolls back if no evidence by"):
        table.add_column(column)
    for i, step in enumerate(r.steps, start=1):
        final = i == len(r.steps)
        bake = format_duration(step.bake_s) if step.bake_s else ("-" if not final else f"watch {format_duration(r.watch_s)}")
        needs = f"{step.min_requests} requests" if step.min_requests else "-"
        table.add_row(str(i), f"{step.percent:g}%", bake, needs,
                      format_duration(step.hold_limit_s) if step.hold_limit_s else "-")
    table.caption = f"the whole rollout rolls back if not done within {format_duration(r.max_duration_s)}"
    return table


def _notification_table(model: DeploymentModel) -> Table:
    table = Table(title="notifications", title_justify="left")
    for column in ("name", "kind", "endpoint", "SNS topic"):
        table.add_column(column)
    for n in model.notifications:
        endpoint = ", ".join(n.addresses) if n.kind == "email" else n.endpoint
        table.add_row(n.name, n.kind, endpoint + (f" (key {n.routing_key})" if n.routing_key else ""), n.topic_name)
    return table
