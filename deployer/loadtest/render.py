"""Terminal presentation for the `loadtest` command: a live progress bar and the summary.

Only the command calls this; the console is the command's (the library itself prints nothing).
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from deployer.loadtest.gate import format_value
from deployer.loadtest.report import (
    ITEM_MARK,
    ReportFiles,
    check_line,
    checklist_failures,
    passed_line,
    verdict_reasons,
    warmup_note,
)
from deployer.loadtest.runner import Progress as PhaseProgress
from deployer.loadtest.session import LoadTestResult

STYLE = {"pass": "green", "fail": "red", "not enough samples": "yellow", "no slo": "dim",
         "passed": "green", "failed": "red", "confirm": "yellow", "not measured": "dim"}


class ProgressView:
    """One bar per phase: requests sent of planned (or seconds of the level), live rps and p99."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[counts]}"),
            TextColumn("[cyan]{task.fields[rps]}"), TextColumn("[magenta]{task.fields[p99]}"),
            TextColumn("[red]{task.fields[errors]}"), TimeElapsedColumn(),
            console=console, transient=False, disable=not console.is_terminal, refresh_per_second=4)
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ProgressView:
        self._progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._progress.__exit__(kind, value, traceback)

    def phase(self, name: str) -> None:
        label = {"rate": "paced load", "evaluation": "evaluation set"}.get(name) or name.replace("concurrency:",
                                                                                                "concurrency ")
        self._tasks[name] = self._progress.add_task(label, total=None, counts="", rps="", p99="", errors="")

    def update(self, progress: PhaseProgress) -> None:
        task = self._tasks.get(progress.phase)
        if task is None:
            return
        if progress.planned:
            total, done = float(progress.planned), float(progress.sent)
            counts = f"{progress.sent:,}/{progress.planned:,} requests"
        else:
            total, done = progress.planned_s, min(progress.elapsed_s, progress.planned_s)
            counts = f"{progress.sent:,} requests"
        p99 = f"p99 {progress.live_p99_ms:,.1f} ms" if progress.live_p99_ms is not None else "p99 -"
        self._progress.update(task, total=total, completed=done, counts=counts,
                              rps=f"{progress.live_rps:,.0f} rps", p99=p99, errors=f"{progress.errors:,} errors")


def print_summary(console: Console, result: LoadTestResult, files: ReportFiles) -> None:
    figures = result.figures
    plan = result.plan
    console.print()
    console.print(f"[bold]{plan.model.agent}/{plan.model.environment}[/]: {figures.requests:,} requests in "
                  f"{figures.elapsed_s:.1f}s ({figures.ok:,} ok, {figures.failed:,} failed, "
                  f"{figures.timed_out:,} timed out)")
    for check in result.checks:
        console.print(f"  [{STYLE[check.status]}]{check_line(check)}[/]", highlight=False)
    if figures.cost_per_1000_usd is not None:
        console.print(f"  cost per 1000 requests: {format_value(figures.cost_per_1000_usd, 'USD')}; projected monthly at "
                      f"{figures.expected_requests_per_month:,.0f} requests: "
                      f"{format_value(figures.projected_monthly_usd, 'USD')}", highlight=False)
    if result.warmup:
        console.print(f"  [dim]{warmup_note(result).strip()}[/]", highlight=False)
    style = "yellow" if result.generator.bottleneck != "none" else "dim"
    console.print(f"  [{style}]generator: {result.generator.message}[/]", highlight=False)
    if result.levels:
        table = Table(title="concurrency sweep", title_justify="left")
        for column in ("concurrent", "succeeded", "timed out", "failed", "p99", "verdict"):
            table.add_column(column)
        for v in result.levels:
            table.add_row(f"{v.level:,}", f"{v.succeeded:,}", f"{v.timed_out:,}", f"{v.failed:,}",
                          format_value(v.p99_ms, "ms"), f"[{'green' if v.met_slos else 'red'}]"
                          f"{'✓' if v.met_slos else '✗'} {v.why}[/]")
        console.print(table)
        best = result.max_concurrency
        console.print(f"  highest concurrency meeting the SLOs: {best if best is not None else 'none'}")
    if result.evaluation is not None:
        evaluation = result.evaluation
        accuracy = (evaluation.get("candidate") or {}).get("accuracy")
        mark = "[green]✓ passed[/]" if result.evaluation_passed else "[red]✗ failed: " + "; ".join(
            evaluation.get("reasons") or []) + "[/]"
        console.print(f"\n[bold]evaluation[/] version {evaluation.get('candidate_version')} on "
                      f"{evaluation.get('data')} ({evaluation.get('examples')} labelled examples): accuracy "
                      + (f"{accuracy:.3f}" if isinstance(accuracy, float) else "?")
                      + f" {mark}  [dim]{evaluation.get('report_html')}[/]", highlight=False)
    console.print("\n[bold]pre-production checklist[/] [dim](✓ measured and settled, ? measured: you confirm "
                  "the rest, ✗ failed, - a load test cannot tell)[/]")
    for item in result.checklist:
        console.print(f"  [{STYLE[item.status]}]{ITEM_MARK[item.status]} {item.item}[/]", highlight=False)
        console.print(f"      [dim]measured: {item.measured}[/]", highlight=False)
        if item.confirm:
            console.print(f"      [dim]confirm: {item.confirm}[/]", highlight=False)
    if result.slowest:
        slowest = result.slowest[0]
        console.print(f"\nslowest request: {slowest.latency_ms:,.1f} ms "
                      + (f"`{slowest.replay}`" if slowest.replay else "(no request_id)")
                      + f"; the {len(result.slowest)} slowest with their inputs are in the report", highlight=False)
    console.print(f"\nreport: {files.html_path}  (every figure: {files.json_path})")
    if result.interrupted:
        console.print("[yellow]interrupted: the report covers what ran[/]"
                      + (f"; skipped {', '.join(result.skipped)}" if result.skipped else ""))
    elif result.passed:
        console.print(f"[bold green]PASSED[/]: {passed_line(result)}", highlight=False)
        failures = checklist_failures(result)
        if failures:
            console.print(f"[bold red]but {len(failures)} checklist item(s) failed[/] (not part of the exit code): "
                          + "; ".join(failures), highlight=False)
    else:
        console.print(f"[bold red]FAILED[/]: {verdict_reasons(result)}")
