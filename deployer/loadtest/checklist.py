"""The brief's pre-production checklist, judged from a load test and the spec (pure).

Every item says what was **measured** and what a person must **confirm**, and is marked:

- ``passed`` (✓) only when the measurement itself settles it;
- ``confirm`` (?) when something was measured but the item also rests on a fact no load test can
  see (is this real data? is this your peak?);
- ``failed`` (✗) when the measurement or the spec contradicts it;
- ``not measured`` (-) when a load test cannot tell (rollback, edge cases from production).

Failed items do not change the exit code (the SLO gate does), but the verdict names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from deployer.compiled import DeploymentModel
from deployer.loadtest.gate import (
    BRIEF_ERROR_RATE_PCT,
    BRIEF_P99_MS,
    SECONDS_PER_MONTH,
    Check,
    LevelVerdict,
    format_value,
)
from deployer.loadtest.summary import Figures, InputCoverage

ItemStatus = Literal["passed", "failed", "confirm", "not measured"]
SCALE = "You can scale to 10x your expected peak load"
REAL_DATA = "You've tested with real data"
LOGGING = "You can see every decision the agent makes (logging)"


@dataclass(frozen=True)
class ChecklistItem:
    item: str
    status: ItemStatus
    measured: str  # what this run (or the spec) showed
    confirm: str  # what a person must still confirm

    @property
    def why(self) -> str:
        return f"{self.measured}; confirm: {self.confirm}" if self.confirm else self.measured


def checklist(model: DeploymentModel, figures: Figures, checks: tuple[Check, ...],
              levels: tuple[LevelVerdict, ...], *, inputs: InputCoverage | None,
              peak_rps: float | None = None, evaluation: dict[str, Any] | None = None) -> tuple[ChecklistItem, ...]:
    """The ten items. `peak_rps`: the expected peak, when the spec states one (it does not yet);
    `evaluation`: the `deployer eval` report of this run's version on the spec's evaluation set."""
    by_key = {c.key: c for c in checks}
    need = model.slos.min_samples
    return (
        _from_check("p99 latency is acceptable", by_key.get("latency_p99"), BRIEF_P99_MS, "ms",
                    figures.latency_p99_ms, figures.requests >= need,
                    "that the SLO is what your callers need, and that staging runs production's model and data"),
        _from_check("Error rate is <1% under load", by_key.get("error_rate"), BRIEF_ERROR_RATE_PCT, "%",
                    figures.error_rate_pct, figures.requests >= need,
                    "that the errors in the report (by type) are ones you expect"),
        _memory_item(by_key.get("memory_growth"), figures),
        _cost_item([by_key[k] for k in ("cost_per_request", "projected_monthly") if k in by_key], model),
        scale_item(model, figures, by_key, levels, peak_rps=peak_rps),
        ChecklistItem("All edge cases from monitoring are handled", "not measured",
                      "nothing: a load test sends the input file, not production's edge cases",
                      f"review `deployer errors --env {model.environment}` on real traffic"),
        _alerts_item(model),
        ChecklistItem("You can rollback in <5 minutes", "not measured", "nothing: a load test does not roll back",
                      "run `deployer drill` (a bad version rolled back, timed)"),
        logging_item(model, figures),
        real_data_item(inputs, model, evaluation),
    )


def _from_check(item: str, check: Check | None, fallback: float, unit: str, value: float | None,
                enough: bool, confirm: str) -> ChecklistItem:
    if check is not None and check.status in ("pass", "fail"):
        return ChecklistItem(item, "passed" if check.status == "pass" else "failed",
                             f"{format_value(check.value, unit)} against the SLO {format_value(check.threshold, unit)}"
                             f" ({check.detail})", confirm)
    if check is not None and check.status == "not enough samples":
        return ChecklistItem(item, "not measured", f"not enough samples ({check.detail})", "raise --rps or --duration")
    if value is not None and enough:
        return ChecklistItem(item, "passed" if value <= fallback else "failed",
                             f"{format_value(value, unit)} against the checklist's default "
                             f"{format_value(fallback, unit)} (no SLO in the spec)", confirm)
    return ChecklistItem(item, "not measured", "no samples", "raise --rps or --duration")


def _memory_item(growth: Check | None, figures: Figures) -> ChecklistItem:
    item = "Memory usage is stable (not growing over time)"
    longer = f"that a longer run agrees: this one sent {figures.requests:,} requests, slow leaks need more"
    if growth is not None and growth.status in ("pass", "fail"):
        return ChecklistItem(item, "passed" if growth.status == "pass" else "failed",
                             f"grows {format_value(growth.value, 'MB')} per 10k requests (SLO "
                             f"{format_value(growth.threshold, 'MB')}; {growth.detail})", longer)
    if growth is not None and growth.status == "not enough samples":
        return ChecklistItem(item, "not measured", growth.detail, "raise --rps or --duration")
    if figures.memory_samples:
        return ChecklistItem(item, "not measured", f"{figures.memory_samples:,} memory samples, no SLO to judge them",
                             "set slos.memory_growth_mb_per_10k")
    return ChecklistItem(item, "not measured", "no response carried usage.memory_mb",
                         "that the runtime reports memory (usage.memory_mb)")


def _cost_item(cost_checks: Sequence[Check], model: DeploymentModel) -> ChecklistItem:
    item = "Cost per request is within budget"
    confirm = "that expected_traffic is current and the model's pricing in the spec is what you pay"
    judged = [c for c in cost_checks if c.status in ("pass", "fail")]
    if not judged:
        return ChecklistItem(item, "not measured", "no cost SLO or budget in the spec, or no cost samples",
                             "set slos.cost_per_request_usd and budget.monthly_usd")
    failed = any(c.status == "fail" for c in judged)
    return ChecklistItem(item, "failed" if failed else "passed", "; ".join(
        f"{c.label} {format_value(c.value, 'USD')} vs {format_value(c.threshold, 'USD')}" for c in judged), confirm)


def scale_item(model: DeploymentModel, figures: Figures, by_key: dict[str, Check],
               levels: tuple[LevelVerdict, ...], *, peak_rps: float | None = None) -> ChecklistItem:
    """The paced rate against 10x the expected traffic, and the concurrency sweep when there is one.

    Any failed sweep level fails the item. Without a peak in the spec, 10x the average held is a
    measurement to confirm against your peak, not a pass.
    """
    achieved = figures.achieved_rps or 0.0
    rate_checks = [by_key[k] for k in ("latency_p99", "error_rate", "throughput") if k in by_key]
    if figures.requests < model.slos.min_samples or any(c.status == "not enough samples" for c in rate_checks):
        return ChecklistItem(SCALE, "not measured", f"not enough samples ({figures.requests:,})",
                             "raise --rps or --duration")
    missed = [c.label for c in rate_checks if c.status == "fail"]
    rate = (f"paced load: held {achieved:,.1f} rps within the SLOs" if not missed
            else f"paced load: {achieved:,.1f} rps, {', '.join(missed)} not met")
    capacity = achieved
    sweep = ""
    failed_levels = [v for v in sorted(levels, key=lambda v: v.level) if not v.met_slos]
    if failed_levels:
        first = failed_levels[0]
        met = [v.level for v in levels if v.met_slos and v.level < first.level]
        sweep = (f"; concurrency sweep failed at {first.level:,} concurrent ({first.why}); highest level meeting "
                 f"the SLOs: {max(met) if met else 'none'}")
        return ChecklistItem(SCALE, "failed", rate + sweep,
                             f"fix what fails at {first.level:,} concurrent, or confirm that 10x your peak needs "
                             f"fewer concurrent requests (10x peak rps x p99 latency)")
    if levels:
        top = max(levels, key=lambda v: v.level)
        capacity = max([achieved, *(v.rps or 0.0 for v in levels)])
        sweep = (f"; concurrency sweep: every level up to {top.level:,} concurrent met the SLOs"
                 + (f" ({top.rps:,.1f} rps there)" if top.rps else ""))
    if missed:
        return ChecklistItem(SCALE, "failed", rate + sweep, "fix the SLOs that failed, then measure again")
    if peak_rps is not None and peak_rps > 0:
        needed = 10 * peak_rps
        if achieved >= needed:
            return ChecklistItem(SCALE, "passed", f"{rate}{sweep}; 10x the expected peak {peak_rps:g} rps = "
                                                  f"{needed:,.1f} rps", "that the peak in the spec is current")
        return ChecklistItem(SCALE, "not measured", f"{rate}{sweep}, below 10x the expected peak ({needed:,.1f} rps)",
                             f"raise --rps to at least {needed:,.1f}")
    average = model.cost.expected_requests_per_month / SECONDS_PER_MONTH
    if average <= 0:
        return ChecklistItem(SCALE, "not measured", f"{rate}{sweep}; the spec sets no expected traffic",
                             f"set expected_traffic, and that 10x your peak is at most {capacity:,.1f} rps")
    if achieved >= 10 * average:
        return ChecklistItem(SCALE, "confirm", f"{rate} = {achieved / average:,.0f}x the expected average "
                                               f"{average:.3g} rps{sweep}; the spec gives no peak",
                             f"that 10x your peak is at most {capacity:,.1f} rps (a peak of at most "
                             f"{capacity / 10:,.1f} rps)")
    return ChecklistItem(SCALE, "not measured", f"{rate}{sweep}, below 10x the expected average "
                                                 f"({10 * average:,.2f} rps; the spec gives no peak)",
                         f"raise --rps to at least 10x your peak (and {10 * average:,.2f})")


def _alerts_item(model: DeploymentModel) -> ChecklistItem:
    item = "You have alerts set up for critical metrics"
    kinds = {a.kind for a in model.alarms if a.notify or a.gates_rollout}
    missing = [k for k in ("error_rate", "latency") if k not in kinds]
    confirm = "that the alerts reach a person: `deployer drill` fires them"
    if missing:
        return ChecklistItem(item, "failed", f"from the spec: no alarm on {', '.join(missing)}", confirm)
    return ChecklistItem(item, "passed", f"from the spec: {len(model.alarms)} alarms ({', '.join(sorted(kinds))})",
                         confirm)


def logging_item(model: DeploymentModel, figures: Figures) -> ChecklistItem:
    """✓ only when every action keeps errors always and inputs and outputs of every request."""
    blind: list[str] = []
    rates: dict[str, float] = {}
    for action in model.actions:
        policy = action.monitoring
        if not policy.log_errors:
            blind.append(f"{action.name} does not log errors")
        if not (policy.log_inputs and policy.log_outputs):
            kept = "outputs" if policy.log_outputs else "inputs" if policy.log_inputs else "neither inputs nor outputs"
            blind.append(f"{action.name} logs {kept}" + (" only" if kept != "neither inputs nor outputs" else ""))
        rates[action.name] = policy.sample_rate if policy.log_inputs or policy.log_outputs else 0.0
    ids = figures.with_request_id_pct
    carried = ("no successful response to check for a request_id" if ids is None
               else "every response carried a request_id" if ids >= 100.0
               else f"only {ids:.1f}% of responses carried a request_id")
    find = f"that you can find a request of this run: `deployer replay <request_id> --env {model.environment}`"
    if ids is not None and ids < 100.0:
        blind.append(carried)
    lowest = min(rates.values(), default=0.0)
    shares = ", ".join(f"{name} {rate:.0%}" for name, rate in rates.items())
    if blind or lowest == 0.0:
        if lowest == 0.0:
            blind.append("no successful request's input/output is kept for "
                         + ", ".join(n for n, r in rates.items() if r == 0.0))
        return ChecklistItem(LOGGING, "failed", "; ".join(blind), "fix the monitoring policy in the spec")
    if lowest < 1.0:
        return ChecklistItem(LOGGING, "confirm",
                             f"errors always; inputs/outputs of a sample of successful requests (monitoring.sample_rate: "
                             f"{shares}): {1 - lowest:.0%} of successful decisions leave no input/output; {carried}",
                             f"that this share is enough, or set monitoring.sample_rate: 1.0; {find}")
    if ids is None:
        return ChecklistItem(LOGGING, "not measured", f"every action logs inputs, outputs and errors; {carried}", find)
    return ChecklistItem(LOGGING, "passed", f"every action logs inputs, outputs and errors of every request "
                                           f"(sample_rate 1.0); {carried}", find)


def real_data_item(inputs: InputCoverage | None, model: DeploymentModel | None = None,
                   evaluation: dict[str, Any] | None = None) -> ChecklistItem:
    """✓ only when the version was evaluated on the spec's labelled set and passed its gate; else what
    the input file was, with what a person must confirm."""
    declared = model.evaluation if model is not None else None
    if declared is not None and evaluation is not None and evaluation.get("data") == declared.data_file:
        candidate = evaluation.get("candidate") or {}
        measured = (f"evaluated on {declared.data_file}: {evaluation.get('examples')} labelled examples, accuracy "
                    f"{candidate.get('accuracy', 0):.3f} ({declared.score_kind} on {declared.score_field or 'the answer'})")
        if evaluation.get("passed"):
            return ChecklistItem(REAL_DATA, "passed", measured + "; the evaluation gate passed",
                                 "that the labelled set is drawn from production, as its documentation says")
        return ChecklistItem(REAL_DATA, "failed", measured + "; the evaluation gate failed: "
                             + "; ".join(evaluation.get("reasons") or []), "fix the answers, then evaluate again")
    if inputs is None:
        return ChecklistItem(REAL_DATA, "failed", "no input file was used", "pass --input with production inputs")
    drawn = inputs.distribution + (f" by {inputs.weight_field}" if inputs.distribution == "weighted" else "")
    used = f"the first {inputs.lines:,} (of more)" if inputs.cut_at_limit else f"the {inputs.lines:,}"
    measured = f"{inputs.distinct_sent:,} distinct inputs of {used} in {inputs.path} were sent ({drawn})"
    if inputs.top_input_share_pct is not None:
        measured += f"; the most frequent made {inputs.top_input_share_pct:.1f}% of {inputs.requests:,} requests"
    if inputs.distinct_sent < inputs.lines:
        unsent = inputs.lines - inputs.distinct_sent
        measured += f"; {unsent:,} " + ("line was" if unsent == 1 else "lines were") + " never sent"
    confirm = "that these are real production inputs (not generated or hand-written) in production's mix"
    if declared is not None:
        confirm += f"; and run `deployer eval --env {model.environment if model else 'ENV'}` on the labelled set"
    return ChecklistItem(REAL_DATA, "confirm", measured, confirm)
