"""``report.json`` (every figure) and ``report.html`` (verdict first, then plots) of a load test."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deployer.loadtest import plots
from deployer.loadtest.gate import Check, format_value
from deployer.loadtest.session import LoadTestResult
from deployer.loadtest.stats import time_buckets

MARK = {"pass": "✓", "fail": "✗", "not enough samples": "?", "no slo": "·"}
ITEM_MARK = {"passed": "✓", "failed": "✗", "confirm": "?", "not measured": "-"}


@dataclass(frozen=True)
class ReportFiles:
    directory: Path
    json_path: Path
    html_path: Path
    plots: tuple[Path, ...]


def check_line(check: Check) -> str:
    """One line in the brief's shape: ``p99 latency: 2000 ms ✗ (SLO <= 500 ms; 1,234 samples)``."""
    value = format_value(check.value, check.unit) if check.unit != "USD" or check.value is None else format_value(check.value, "USD")
    if check.status == "no slo":
        return f"{check.label}: {value} {MARK[check.status]} (no SLO; {check.detail})"
    limit = format_value(check.threshold, check.unit)
    return f"{check.label}: {value} {MARK[check.status]} (SLO {check.comparison} {limit}; {check.detail})"


def verdict_reasons(result: LoadTestResult) -> str:
    """``error rate, p99 latency; not enough samples to judge: memory growth ...``."""
    failed = [c.label for c in result.checks if c.status == "fail"]
    unjudged = [c.label for c in result.checks if c.status == "not enough samples"]
    parts = [", ".join(failed)] if failed else []
    if not result.evaluation_passed and result.evaluation is not None:
        parts.append("evaluation: " + "; ".join(result.evaluation.get("reasons") or ["failed"]))
    if unjudged:
        parts.append(f"not enough samples to judge ({result.plan.model.slos.min_samples:,} needed): "
                     + ", ".join(unjudged))
    return "; ".join(parts)


def passed_line(result: LoadTestResult) -> str:
    """What passed: the SLO gate, and the evaluation gate when it ran."""
    if result.evaluation is None:
        return "every SLO gate passed"
    accuracy = (result.evaluation.get("candidate") or {}).get("accuracy")
    return (f"every SLO gate passed, and the evaluation on {result.evaluation.get('data')} "
            + (f"(accuracy {accuracy:.3f})" if isinstance(accuracy, float) else "") + " passed")


def checklist_failures(result: LoadTestResult) -> list[str]:
    """Failed checklist items, for the verdict: the exit code is the SLO gate's, these are called out."""
    return [f"{item.item} ({item.measured})" for item in result.checklist if item.status == "failed"]


def _evaluation_summary(evaluation: dict[str, Any] | None) -> dict[str, Any] | None:
    """The evaluation's verdict and headline figures; every answer is in its own report."""
    if evaluation is None:
        return None
    keep = ("passed", "reasons", "data", "data_hash", "examples", "candidate_version", "stable_version",
            "report_html")
    candidate = evaluation.get("candidate") or {}
    labels = candidate.get("labels") or {}
    return {**{k: evaluation.get(k) for k in keep}, "accuracy": candidate.get("accuracy"),
            "macro_f1": labels.get("macro_f1")}


def warmup_note(result: LoadTestResult) -> str:
    if not result.warmup:
        return ""
    first = result.warmup[0].ms
    return (f" Warm-up (not judged): {len(result.warmup)} requests, the first took {first:,.0f} ms, "
            f"the slowest {max(r.ms for r in result.warmup):,.0f} ms.")


def to_dict(result: LoadTestResult) -> dict[str, Any]:
    plan = result.plan
    origin = min((r.t for r in result.records), default=result.started_at)
    return {
        "agent": plan.model.agent,
        "environment": plan.model.environment,
        "spec_hash": plan.model.spec_hash,
        "target": plan.target_url,
        "started_at": _iso(result.started_at),
        "finished_at": _iso(result.finished_at),
        "passed": result.passed,
        "interrupted": result.interrupted,
        "skipped": list(result.skipped),
        "plan": {
            "action": plan.action, "rps": plan.rps, "duration_s": plan.duration_s, "users": plan.users,
            "workers": plan.workers, "input_file": plan.input_file, "distribution": plan.distribution,
            "weight_field": plan.weight_field, "concurrency": list(plan.concurrency),
            "concurrency_level_s": plan.sweep_level_s, "request_timeout_s": plan.request_timeout_s,
            "sigv4_region": plan.sigv4_region, "seed": plan.seed, "sources": plan.sources,
        },
        "figures": dataclasses.asdict(result.figures),
        "warmup": {
            "note": "sent before the paced schedule and not judged (cold starts, connection set-up)",
            "requests": len(result.warmup),
            "latencies_ms": [r.ms for r in result.warmup],
            "failed": sum(1 for r in result.warmup if not r.ok),
        },
        "checks": [dataclasses.asdict(c) for c in result.checks],
        "generator": dataclasses.asdict(result.generator),
        "concurrency": {
            "levels": [dataclasses.asdict(v) for v in result.levels],
            "max_level_meeting_slos": result.max_concurrency,
            "figures": {str(k): dataclasses.asdict(f) for k, f in result.level_figures.items()},
        },
        "checklist": [dataclasses.asdict(i) for i in result.checklist],
        "evaluation": _evaluation_summary(result.evaluation),
        "checklist_failed": [i.item for i in result.checklist if i.status == "failed"],
        "inputs": dataclasses.asdict(result.inputs) if result.inputs else None,
        "slowest_requests": [dataclasses.asdict(s) for s in result.slowest],
        "timeline": [dataclasses.asdict(b) for b in time_buckets(result.records, origin=origin)],
        "percentile_method": "nearest-rank over every request's own latency",
    }


def write_report(result: LoadTestResult, directory: str | Path | None = None) -> ReportFiles:
    out = Path(directory or result.plan.report_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = to_dict(result)
    images = _plots(result)
    written = []
    for name, png in images.items():
        path = out / f"{name}.png"
        path.write_bytes(png)
        written.append(path)
    data["files"] = {"plots": [p.name for p in written], "requests": "raw/*/requests-*.jsonl"}
    json_path = out / "report.json"
    json_path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(_html(result, data, images), encoding="utf-8")
    return ReportFiles(directory=out, json_path=json_path, html_path=html_path, plots=tuple(written))


def _plots(result: LoadTestResult) -> dict[str, bytes]:
    records = result.records
    if not records:
        return {}
    slos = result.plan.model.slos
    origin = min(r.t for r in records)
    buckets = time_buckets(records, origin=origin)
    images = {
        "latency_over_time": plots.latency_over_time(
            buckets, {"p50": slos.latency_p50_ms, "p95": slos.latency_p95_ms, "p99": slos.latency_p99_ms},
            result.plan.rps),
        "latency_histogram": plots.latency_histogram([r.ms for r in records], result.figures, slos.latency_p99_ms),
        "errors_over_time": plots.errors_over_time(buckets, slos.error_rate_pct),
    }
    if result.figures.memory_samples:
        images["memory_over_requests"] = plots.memory_over_requests(records, result.figures,
                                                                    slos.memory_growth_mb_per_10k)
    if result.levels:
        images["concurrency"] = plots.concurrency_levels(result.levels)
    return images


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat(timespec="seconds")


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1000px;color:#222}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
.verdict{padding:.8em 1.2em;border-radius:6px;font-size:1.3em;font-weight:600;margin:1em 0}
.pass{background:#e8f6ee;color:#1e7b46}.fail{background:#fdecea;color:#a93226}.warn{background:#fef5e7;color:#9a6400}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em}th,td{text-align:left;padding:.35em .6em;
border-bottom:1px solid #eee;font-size:.93em}th{background:#fafafa}
td.s-pass,td.s-passed{color:#1e7b46;font-weight:600}td.s-fail,td.s-failed{color:#a93226;font-weight:600}
td.s-not,td.s-no,td.s-confirm{color:#9a6400}img{max-width:100%;margin:.4em 0 1em;border:1px solid #eee}
code{background:#f4f4f4;padding:0 .3em}.num{font-variant-numeric:tabular-nums}
.tiles{display:flex;flex-wrap:wrap;gap:.6em;margin:1em 0}.tile{flex:1 1 140px;border-radius:6px;padding:.6em .8em;
background:#f6f6f6;border-top:4px solid #bbb}.tile b{display:block;font-size:1.5em;font-variant-numeric:tabular-nums}
.tile small{color:#555}.t-pass{border-color:#27ae60}.t-fail{border-color:#c0392b}.t-not{border-color:#f39c12}
"""


def _status_class(status: str) -> str:
    return "s-" + status.split()[0]


def _html(result: LoadTestResult, data: dict[str, Any], images: dict[str, bytes]) -> str:
    e = html.escape
    figures = result.figures
    failures = checklist_failures(result)
    if result.interrupted:
        banner = ("warn", "Interrupted: this report covers what ran before Ctrl-C")
    elif result.passed and failures:
        banner = ("warn", f"SLO gate PASSED, but {len(failures)} checklist item(s) failed: " + "; ".join(failures))
    elif result.passed:
        banner = ("pass", "PASSED: " + passed_line(result))
    else:
        banner = ("fail", "FAILED: " + verdict_reasons(result))
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Load test: {e(data['agent'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Load test: {e(data['agent'])} / {e(data['environment'])}</h1>",
        f"<p class='sub'>{e(data['started_at'])} · {e(result.plan.target_url)} · {result.plan.rps:g} rps asked for "
        f"{result.plan.duration_s:g}s with {result.plan.users} users on {result.plan.workers} worker(s)</p>",
        f"<div class='verdict {banner[0]}'>{e(banner[1])}</div>",
        f"<p>{figures.requests:,} requests, {figures.ok:,} succeeded, {figures.failed:,} failed, "
        f"{figures.timed_out:,} timed out. Generator: {e(result.generator.message)}.{e(warmup_note(result))}</p>",
        _tiles(result),
        "<h2>SLO gate</h2><table><tr><th>metric</th><th>value</th><th>SLO</th><th>verdict</th><th>detail</th></tr>",
    ]
    for c in result.checks:
        limit = f"{c.comparison} {format_value(c.threshold, c.unit)}" if c.threshold is not None else "none"
        parts.append(f"<tr><td>{e(c.label)}</td><td class='num'>{e(format_value(c.value, c.unit))}</td><td>{e(limit)}</td>"
                     f"<td class='{_status_class(c.status)}'>{MARK[c.status]} {e(c.status)}</td>"
                     f"<td>{e(c.detail)}<br><small>{e(c.source)}</small></td></tr>")
    parts.append("</table>")
    for name, title in (("latency_over_time", "Latency over time"), ("latency_histogram", "Latency histogram"),
                        ("errors_over_time", "Errors over time"), ("memory_over_requests", "Memory over requests")):
        if name in images:
            parts.append(f"<h3>{title}</h3>{_img(images[name], title)}")
    if result.levels:
        best = result.max_concurrency
        parts.append("<h2>Concurrency sweep</h2>")
        parts.append(f"<p>Highest level meeting the SLOs: <b>{best if best is not None else 'none'}</b> "
                     "concurrent requests.</p>")
        parts.append("<table><tr><th>concurrent</th><th>requests</th><th>succeeded</th><th>timed out</th>"
                     "<th>failed</th><th>p99</th><th>verdict</th></tr>")
        for v in result.levels:
            parts.append(f"<tr><td>{v.level:,}</td><td>{v.requests:,}</td><td>{v.succeeded:,}</td>"
                         f"<td>{v.timed_out:,}</td><td>{v.failed:,}</td><td>{e(format_value(v.p99_ms, 'ms'))}</td>"
                         f"<td class='{'s-pass' if v.met_slos else 's-fail'}'>"
                         f"{'✓' if v.met_slos else '✗'} {e(v.why)}</td></tr>")
        parts.append("</table>")
        if "concurrency" in images:
            parts.append(_img(images["concurrency"], "Concurrency sweep"))
    parts.append("<h2>Pre-production checklist</h2><p class='sub'>✓ settled by the measurement · ? measured, a "
                 "person must confirm the rest · ✗ contradicted · - a load test cannot tell</p>"
                 "<table><tr><th>item</th><th>status</th><th>measured</th><th>you confirm</th></tr>")
    for item in result.checklist:
        parts.append(f"<tr><td>{e(item.item)}</td><td class='{_status_class(item.status)}'>"
                     f"{ITEM_MARK[item.status]} {e(item.status)}</td><td>{e(item.measured)}</td>"
                     f"<td>{e(item.confirm)}</td></tr>")
    parts.append("</table>")
    parts.append(_requests_section(result))
    parts.append("<h2>Run</h2><pre>" + e(json.dumps(data["plan"], indent=2)) + "</pre>")
    parts.append("<p class='sub'>Percentiles are exact (nearest rank over every request's latency). "
                 "Every figure is in report.json; every request in raw/.</p></body></html>")
    return "\n".join(parts)


def _tiles(result: LoadTestResult) -> str:
    """The headline figures as big numbers, each edged by its verdict."""
    by_key = {c.key: c for c in result.checks}
    figures = result.figures
    tiles = [("p50", "latency_p50", format_value(figures.latency_p50_ms, "ms")),
             ("p95", "latency_p95", format_value(figures.latency_p95_ms, "ms")),
             ("p99", "latency_p99", format_value(figures.latency_p99_ms, "ms")),
             ("error rate", "error_rate", format_value(figures.error_rate_pct, "%")),
             ("requests/s held", "throughput", f"{figures.achieved_rps or 0:,.1f}"),
             ("memory growth / 10k", "memory_growth", format_value(figures.memory_growth_mb_per_10k, "MB")),
             ("cost / 1000 requests", "cost_per_request", format_value(figures.cost_per_1000_usd, "USD")),
             ("projected monthly", "projected_monthly", format_value(figures.projected_monthly_usd, "USD"))]
    out = []
    for label, key, value in tiles:
        check = by_key.get(key)
        status = check.status if check is not None else "no slo"
        limit = f"SLO {check.comparison} {format_value(check.threshold, check.unit)}" if check and check.threshold else "no SLO"
        out.append(f"<div class='tile t-{status.split()[0]}'><small>{html.escape(label)}</small><b>{html.escape(value)}</b>"
                   f"<small>{html.escape(limit)} · {html.escape(status)}</small></div>")
    return "<div class='tiles'>" + "".join(out) + "</div>"


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


def _requests_section(result: LoadTestResult) -> str:
    e = html.escape
    figures = result.figures
    rows = "".join(
        f"<tr><td><code>{e(s.request_id or 'none')}</code></td><td class='num'>{s.latency_ms:,.1f} ms</td>"
        f"<td>{s.status}</td><td>{e(s.outcome)}</td><td><code>{e(s.input_excerpt)}</code></td>"
        f"<td>{f'<code>{e(s.replay)}</code>' if s.replay else 'no request_id in the response'}</td></tr>"
        for s in result.slowest)
    out = (f"<h2>Slowest requests</h2><p class='sub'>The {len(result.slowest)} slowest of the paced load, with the "
           "input each sent (redacted as the action's monitoring policy says) and the command that sends it again."
           "</p><table><tr><th>request id</th><th>latency</th><th>status</th><th>outcome</th><th>input</th>"
           f"<th>replay</th></tr>{rows}</table>")
    if figures.errors_by_type:
        out += "<h2>Errors</h2><table><tr><th>error</th><th>count</th></tr>" + "".join(
            f"<tr><td>{e(k)}</td><td>{v:,}</td></tr>" for k, v in figures.errors_by_type.items()) + "</table>"
        if figures.failed_request_ids:
            env = result.plan.model.environment
            out += (f"<p>Replay a failed request with <code>deployer replay REQUEST_ID --env {e(env)}</code>: "
                    + ", ".join(f"<code>{e(i)}</code>" for i in figures.failed_request_ids[:10]) + "</p>")
    return out
