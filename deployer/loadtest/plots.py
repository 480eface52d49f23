"""The report's plots, as PNG bytes (matplotlib with the Agg backend, imported only here)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from deployer.loadtest.gate import LevelVerdict
from deployer.loadtest.records import RequestRecord
from deployer.loadtest.stats import Bucket
from deployer.loadtest.summary import MEMORY_WARMUP_SHARE, Figures

COLORS = {"p50": "#2b8cbe", "p95": "#f39c12", "p99": "#c0392b", "ok": "#27ae60", "failed": "#c0392b",
          "timeout": "#8e44ad", "slo": "#555555", "rps": "#bbbbbb"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    _pyplot().close(fig)
    return buffer.getvalue()


def latency_over_time(buckets: Sequence[Bucket], slos: dict[str, float | None], asked_rps: float) -> bytes:
    """Two panels sharing the time axis: latency percentiles (ms) above, requests sent per second below."""
    plt = _pyplot()
    fig, (ax, rate_ax) = plt.subplots(2, 1, figsize=(9, 5.0), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    xs = [b.start_s for b in buckets]
    top = max((b.p99_ms or 0.0 for b in buckets), default=1.0) * 1.25 or 1.0
    off_scale = []
    for key in ("p50", "p95", "p99"):
        ys = [getattr(b, f"{key}_ms") for b in buckets]
        ax.plot([x + 0.5 for x in xs], ys, color=COLORS[key], marker=".", linewidth=1.6, label=f"{key} latency")
        limit = slos.get(key)
        if limit is not None and limit <= top * 2:
            ax.axhline(limit, color=COLORS[key], linestyle="--", linewidth=0.9, alpha=0.8, label=f"{key} SLO")
            top = max(top, limit * 1.1)
        elif limit is not None:
            off_scale.append(f"{key} SLO {limit:,.0f} ms")
    ax.set_ylim(0, top)
    if off_scale:
        ax.text(0.99, 0.97, "above the chart: " + ", ".join(off_scale), transform=ax.transAxes, ha="right",
                va="top", fontsize=8, color=COLORS["slo"])
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency percentiles per second (dashed: SLO)")
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    ax.grid(alpha=0.25)
    rate_ax.bar(xs, [b.sent for b in buckets], width=0.9, align="edge", color=COLORS["rps"], label="sent (rps)")
    rate_ax.axhline(asked_rps, color=COLORS["slo"], linestyle=":", linewidth=1.2, label=f"asked {asked_rps:g} rps")
    rate_ax.set_ylim(0, max(asked_rps, *(b.sent for b in buckets)) * 1.3)
    rate_ax.set_ylabel("requests/s")
    rate_ax.set_xlabel("seconds into the run")
    rate_ax.legend(loc="lower left", fontsize=8, ncol=2)
    rate_ax.grid(alpha=0.25)
    return _png(fig)


def latency_histogram(latencies: Sequence[float], figures: Figures, p99_slo: float | None) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    values = sorted(latencies)
    lo, hi = max(values[0], 0.01), max(values[-1], 0.02)
    if hi / lo > 50:
        bins = [lo * (hi / lo) ** (i / 60) for i in range(61)]
        ax.set_xscale("log")
    else:
        bins = [lo + (hi - lo) * i / 60 for i in range(61)]
    ax.hist(values, bins=bins, color=COLORS["p50"], alpha=0.8)
    for key, value in (("p50", figures.latency_p50_ms), ("p95", figures.latency_p95_ms),
                       ("p99", figures.latency_p99_ms)):
        if value is not None:
            ax.axvline(value, color=COLORS[key], linewidth=1.4, label=f"{key} {value:,.1f} ms")
    if p99_slo is not None and p99_slo > hi * 2:
        ax.set_title(f"Latency of all {len(values):,} requests (p99 SLO {p99_slo:,.0f} ms is off the chart)")
    elif p99_slo is not None:
        ax.axvline(p99_slo, color=COLORS["slo"], linestyle="--", linewidth=1.2, label=f"p99 SLO {p99_slo:,.0f} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    if not ax.get_title():
        ax.set_title(f"Latency of all {len(values):,} requests")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.25)
    return _png(fig)


def errors_over_time(buckets: Sequence[Bucket], error_slo_pct: float | None) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    xs = [b.start_s for b in buckets]
    failed = [b.failed for b in buckets]
    timed = [b.timed_out for b in buckets]
    ax.bar(xs, failed, width=0.9, align="edge", color=COLORS["failed"], alpha=0.55, label="failed")
    ax.bar(xs, timed, width=0.9, align="edge", bottom=failed, color=COLORS["timeout"], alpha=0.55,
           label="timed out")
    ax.set_ylim(0, max([1, *(f + t for f, t in zip(failed, timed, strict=True))]) * 1.5)
    ax.set_ylabel("errors per second")
    ax.set_xlabel("seconds into the run")
    rate_ax = ax.twinx()
    rates = [100.0 * (b.failed + b.timed_out) / b.sent if b.sent else 0.0 for b in buckets]
    rate_ax.plot([x + 0.5 for x in xs], rates, color="#333333", linewidth=1.6, marker=".", label="error rate %")
    if error_slo_pct is not None:
        rate_ax.axhline(error_slo_pct, color=COLORS["slo"], linestyle="--", linewidth=1, label="SLO")
    rate_ax.set_ylabel("error rate (%)")
    rate_ax.set_ylim(bottom=0, top=max([*rates, error_slo_pct or 0.0, 1.0]) * 1.5)
    total = sum(failed) + sum(timed)
    ax.set_title("Errors over time" + ("" if total else " (none)"))
    handles = ax.get_legend_handles_labels()
    more = rate_ax.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8)
    ax.grid(alpha=0.25)
    return _png(fig)


def memory_over_requests(records: Sequence[RequestRecord], figures: Figures, growth_slo: float | None) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ordered = sorted(records, key=lambda r: r.t)
    points = [(i, r.memory_mb) for i, r in enumerate(ordered, start=1) if r.memory_mb is not None]
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=4, color=COLORS["p50"], alpha=0.5,
               label="reported by the handler")
    if figures.memory_growth_mb_per_10k is not None and figures.memory_fit_intercept_mb is not None:
        first = int(len(points) * MEMORY_WARMUP_SHARE)
        xs = [points[first][0], points[-1][0]]
        slope = figures.memory_growth_mb_per_10k / 10_000
        ax.plot(xs, [figures.memory_fit_intercept_mb + slope * (x - 1) for x in xs], color=COLORS["p99"],
                linewidth=1.6, label=f"trend: {figures.memory_growth_mb_per_10k:+,.1f} MB per 10k requests")
        if growth_slo is not None:
            base = figures.memory_fit_intercept_mb + slope * (xs[0] - 1)
            ax.plot(xs, [base, base + growth_slo / 10_000 * (xs[1] - xs[0])], color=COLORS["slo"],
                    linestyle="--", linewidth=1, label=f"SLO: {growth_slo:g} MB per 10k requests")
    ax.set_xlabel("requests")
    ax.set_ylabel("memory (MB)")
    ax.set_title("Memory over requests")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.25)
    return _png(fig)


def concurrency_levels(levels: Sequence[LevelVerdict]) -> bytes:
    """Per level, the share of requests that succeeded, timed out or failed; p99 on top."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    names = [f"{v.level:,}" + (" ✓" if v.met_slos else " ✗") for v in levels]

    def share(count: int, total: int) -> float:
        return 100.0 * count / total if total else 0.0

    ok = [share(v.succeeded, v.requests) for v in levels]
    timed = [share(v.timed_out, v.requests) for v in levels]
    failed = [share(v.failed, v.requests) for v in levels]
    ax.bar(names, ok, color=COLORS["ok"], label="succeeded")
    ax.bar(names, timed, bottom=ok, color=COLORS["timeout"], label="timed out")
    ax.bar(names, failed, bottom=[a + b for a, b in zip(ok, timed, strict=True)], color=COLORS["failed"],
           label="failed")
    for i, v in enumerate(levels):
        p99 = f"p99 {v.p99_ms:,.0f} ms" if v.p99_ms is not None else "no answer"
        ax.text(i, 103, f"{v.requests:,} requests, {p99}", ha="center", fontsize=8)
    ax.set_ylim(0, 115)
    ax.set_xlabel("concurrent requests (✓ met the SLOs)")
    ax.set_ylabel("share of requests (%)")
    ax.set_title("Concurrency sweep")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.25, axis="y")
    return _png(fig)
