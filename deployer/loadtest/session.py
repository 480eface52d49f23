"""One load test end to end: the paced phase, the concurrency sweep, the verdicts.

`run_load_test` runs the phases (each a locust run in its own processes), then judges what was
recorded. A Ctrl-C stops the current phase, skips the rest and still returns what ran, marked
`interrupted`, so the report can be written.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from deployer.loadtest.checklist import ChecklistItem, checklist
from deployer.loadtest.gate import Check, LevelVerdict, gate_passed, level_verdict, max_level, slo_checks
from deployer.loadtest.inputs import InputSet, load_inputs
from deployer.loadtest.plan import LOCAL_JOIN_TIMEOUT_S, THROUGHPUT_TOLERANCE, LoadPlan
from deployer.loadtest.records import GeneratorSettings, RequestRecord
from deployer.loadtest.runner import PhaseRun, ProgressCallback, run_phase
from deployer.loadtest.stats import percentile
from deployer.loadtest.summary import Figures, InputCoverage, SlowRequest, input_coverage, slowest_requests, summarize

if TYPE_CHECKING:
    from deployer.ops.target import OpsTarget

#: Requests per generator process sent before the paced schedule, not judged (cold starts).
WARMUP_REQUESTS = 5
#: A generator process above this share of one core is at its limit.
GENERATOR_CPU_LIMIT = 0.85

Bottleneck = Literal["none", "generator", "users", "target"]


@dataclass(frozen=True)
class GeneratorHealth:
    processes: int
    cores: int
    cpu_share_max: float | None  # of one core, busiest generator process
    cpu_seconds: float
    achieved_ratio: float | None
    bottleneck: Bottleneck
    message: str
    per_process: tuple[dict[str, Any], ...] = ()  # each locust process's CPU accounting


@dataclass
class LoadTestResult:
    plan: LoadPlan
    started_at: float
    finished_at: float
    records: list[RequestRecord]
    figures: Figures
    checks: tuple[Check, ...]
    generator: GeneratorHealth
    levels: tuple[LevelVerdict, ...] = ()
    level_figures: dict[int, Figures] = field(default_factory=dict)
    level_records: dict[int, list[RequestRecord]] = field(default_factory=dict)
    max_concurrency: int | None = None
    checklist: tuple[ChecklistItem, ...] = ()
    interrupted: bool = False
    skipped: tuple[str, ...] = ()
    warmup: list[RequestRecord] = field(default_factory=list)
    inputs: InputCoverage | None = None
    slowest: tuple[SlowRequest, ...] = ()
    evaluation: dict[str, Any] | None = None  # evaluation.json of the spec's labelled set, when it ran

    @property
    def evaluation_passed(self) -> bool:
        return self.evaluation is None or bool(self.evaluation.get("passed"))

    @property
    def passed(self) -> bool:
        """The staging gate: every SLO, and the evaluation gate when the spec declares one."""
        return gate_passed(self.checks) and self.evaluation_passed and not self.interrupted


def _settings(plan: LoadPlan, results_dir: Path, *, phase: str, mode: Literal["rate", "closed"], rps: float,
              users: int, duration_s: float, warmup: int = 0) -> GeneratorSettings:
    phases = ["rate", *(f"concurrency:{level}" for level in plan.concurrency)]
    master = plan.master
    return GeneratorSettings(
        target_url=plan.target_url, action=plan.action, mode=mode, phase=phase, rps=rps, users=users,
        workers=plan.workers, duration_s=duration_s, input_file=plan.input_file,
        distribution=plan.distribution, weight_field=plan.weight_field, seed=plan.seed,
        timeout_s=plan.request_timeout_s, results_dir=str(results_dir), sigv4_region=plan.sigv4_region,
        warmup=warmup, label=f"{plan.model.agent}/{plan.model.environment}",
        phase_number=phases.index(phase) + 1, phases=len(phases),
        master_bind_host=master.bind_host if master else None, master_port=master.port if master else None,
        join_timeout_s=master.join_timeout_s if master else LOCAL_JOIN_TIMEOUT_S)


def run_load_test(plan: LoadPlan, *, on_progress: ProgressCallback | None = None,
                  on_phase: Callable[[str], None] | None = None, ops: OpsTarget | None = None,
                  evaluate: bool = True, inputs: InputSet | None = None) -> LoadTestResult:
    """Run the evaluation (the spec's labelled set, when it has one and `ops` reaches the deployed
    versions), the paced phase and every concurrency level; judge them. Never raises on Ctrl-C.

    `inputs`: the plan's input file as the caller already read it (else it is read here)."""
    report_dir = Path(plan.report_dir)
    raw = report_dir / "raw"
    if raw.exists():
        shutil.rmtree(raw)
    started = time.time()
    evaluation = staging_evaluation(plan, ops, on_phase=on_phase) if evaluate else None
    if on_phase:
        on_phase("rate")
    main = run_phase(_settings(plan, raw / "rate", phase="rate", mode="rate", rps=plan.rps, users=plan.users,
                               duration_s=plan.duration_s, warmup=WARMUP_REQUESTS),
                     on_progress=on_progress, planned=plan.expected_requests)
    warmup = [r for r in main.records if r.phase == "warmup"]
    main.records = [r for r in main.records if r.phase != "warmup"]
    interrupted = main.interrupted
    level_runs: dict[int, PhaseRun] = {}
    skipped: list[str] = []
    for level in plan.concurrency:
        if interrupted:
            skipped.append(f"concurrency {level}")
            continue
        if on_phase:
            on_phase(f"concurrency:{level}")
        run = run_phase(_settings(plan, raw / f"concurrency-{level}", phase=f"concurrency:{level}", mode="closed",
                                  rps=0.0, users=level, duration_s=plan.sweep_level_s),
                        on_progress=on_progress)
        level_runs[level] = run
        interrupted = interrupted or run.interrupted

    model = plan.model
    figures = summarize(main.records, asked_rps=plan.rps, planned_s=plan.duration_s,
                        expected_requests_per_month=model.cost.expected_requests_per_month,
                        confidence_threshold=model.model.confidence_threshold, interrupted=main.interrupted)
    checks = slo_checks(figures, model, tolerance=THROUGHPUT_TOLERANCE)
    level_figures = {
        level: summarize(run.records, asked_rps=None, planned_s=plan.sweep_level_s,
                         expected_requests_per_month=model.cost.expected_requests_per_month,
                         confidence_threshold=model.model.confidence_threshold, interrupted=run.interrupted)
        for level, run in level_runs.items()}
    levels = tuple(level_verdict(level, level_figures[level], model) for level in level_runs)
    if inputs is None:
        inputs = load_inputs(plan.input_file, distribution=plan.distribution, weight_field=plan.weight_field)
    coverage = input_coverage(main.records, path=plan.input_file, lines=len(inputs), distribution=plan.distribution,
                              weight_field=plan.weight_field, cut_at_limit=inputs.cut_at_limit)
    items = checklist(model, figures, checks, levels, inputs=coverage, evaluation=evaluation)
    return LoadTestResult(
        plan=plan, started_at=started, finished_at=time.time(), records=main.records, figures=figures,
        checks=checks, generator=generator_health(main, figures, plan), levels=levels,
        level_figures=level_figures, level_records={lv: run.records for lv, run in level_runs.items()},
        max_concurrency=max_level(levels), checklist=items, interrupted=interrupted, skipped=tuple(skipped),
        warmup=sorted(warmup, key=lambda r: r.t), inputs=coverage, evaluation=evaluation,
        slowest=slowest_requests(main.records, inputs.bodies, replay_command=replay_command(plan),
                                 redact=_redactor(plan)))


def staging_evaluation(plan: LoadPlan, ops: OpsTarget | None, *,
                       on_phase: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """The spec's evaluation set through the version the load will hit (`deployer eval`'s gate),
    written to `<report>/eval`; None when the spec has no evaluation or the target is a bare URL."""
    if plan.model.evaluation is None or ops is None:
        return None
    from deployer.evaluation.session import evaluate

    if on_phase:
        on_phase("evaluation")
    result = evaluate(ops, report_dir=Path(plan.report_dir) / "eval")
    data: dict[str, Any] = json.loads(result.report_json.read_text(encoding="utf-8"))
    data["report_html"] = str(result.report_html)
    return data


def replay_command(plan: LoadPlan) -> str:
    """``deployer replay {request_id} --env ENV`` (with ``--spec`` when it is not ./agent.yaml)."""
    command = f"deployer replay {{request_id}} --env {plan.model.environment}"
    spec = Path(plan.model.spec_file)
    if spec.resolve() != Path("agent.yaml").resolve():
        command += f" --spec {spec}"
    return command


def _redactor(plan: LoadPlan) -> Callable[[Any], Any]:
    """The loaded action's redaction policy, applied to the input excerpts in the report."""
    from handlers.redaction import Redactor

    action = plan.model.action(plan.action)
    if action is None:
        return lambda value: value
    policy = action.monitoring.redaction
    return Redactor(policy.builtins, policy.patterns).redact


def generator_health(run: PhaseRun, figures: Figures, plan: LoadPlan) -> GeneratorHealth:
    """Was the load generator, the user count or the target what limited the rate?"""
    shares = [float(m["cpu_share"]) for m in run.generator_meta if "cpu_share" in m]
    share = max(shares) if shares else (run.children_cpu_s / run.wall_s / max(1, run.processes)
                                        if run.wall_s > 0 else None)
    cpu_seconds = sum(float(m.get("cpu_s", 0.0)) for m in run.generator_meta) or run.children_cpu_s
    ratio = (figures.achieved_rps / plan.rps) if figures.achieved_rps is not None and plan.rps else None
    cores = os.cpu_count() or 1
    busy = share is not None and share >= GENERATOR_CPU_LIMIT
    if ratio is None or ratio >= THROUGHPUT_TOLERANCE:
        bottleneck: Bottleneck = "none"
        message = "the generator held the asked rate"
        if busy:
            message += f", but a locust process used {share:.0%} of a core: it is near its limit (add --workers)"
    elif busy:
        bottleneck = "generator"
        message = (f"the load generator was the bottleneck: a locust process used {share:.0%} of a core "
                   f"and only {ratio:.0%} of the asked rate went out; add --workers (this machine has {cores} cores)")
    else:
        lags = sorted(r.lag_ms for r in run.records)
        lag_p99 = percentile(lags, 99) or 0.0
        latency_p99 = figures.latency_p99_ms or 0.0
        needed = int(plan.rps * latency_p99 / 1000.0) + 1
        if lag_p99 > 1000.0 / plan.rps * 2 and needed > plan.users:
            bottleneck = "users"
            message = (f"all {plan.users} users were busy waiting on the target (requests left up to "
                       f"{lag_p99:.0f} ms late, p50 latency {figures.latency_p50_ms or 0:.0f} ms): the target "
                       f"could not keep up, or raise --users to about {needed} (rps x p99 latency); "
                       f"the generator used {share or 0:.0%} of a core")
        else:
            bottleneck = "target"
            message = f"the target answered too slowly to hold the rate ({ratio:.0%} of it)"
    return GeneratorHealth(processes=run.processes, cores=cores, cpu_share_max=share, cpu_seconds=cpu_seconds,
                           achieved_ratio=ratio, bottleneck=bottleneck, message=message,
                           per_process=tuple(run.generator_meta))
