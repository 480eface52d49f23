"""Every figure of a run, computed from the per-request records (pure)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deployer.loadtest.records import RequestRecord
from deployer.loadtest.stats import linear_fit, mean, percentile

#: The first share of requests is left out of the memory slope: imports and caches warm up there.
MEMORY_WARMUP_SHARE = 0.1
#: "Memory after N requests" is the median of this many last samples (one sample is noise).
MEMORY_TAIL_SAMPLES = 50


@dataclass(frozen=True)
class Figures:
    requests: int
    ok: int
    failed: int
    timed_out: int
    error_rate_pct: float | None
    elapsed_s: float
    asked_rps: float | None
    achieved_rps: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    latency_max_ms: float | None
    latency_mean_ms: float | None
    lag_p99_ms: float | None  # how late requests left against their slot (rate mode)
    latency_from_schedule_p99_ms: float | None  # lag + latency: what a caller on the schedule waited
    memory_samples: int
    memory_after_mb: float | None  # memory after `requests` requests
    memory_max_mb: float | None
    memory_growth_mb_per_10k: float | None
    memory_fit_intercept_mb: float | None
    cost_samples: int
    cost_per_request_usd: float | None
    cost_per_1000_usd: float | None
    projected_monthly_usd: float | None
    expected_requests_per_month: float
    confidence_samples: int
    confidence_mean: float | None
    low_confidence_pct: float | None  # share below the model's confidence threshold
    input_tokens_mean: float | None
    output_tokens_mean: float | None
    with_request_id_pct: float | None
    distinct_inputs: int
    errors_by_type: dict[str, int] = field(default_factory=dict)
    failed_request_ids: tuple[str, ...] = ()


def summarize(records: Sequence[RequestRecord], *, asked_rps: float | None, planned_s: float,
              expected_requests_per_month: float, confidence_threshold: float | None,
              interrupted: bool = False) -> Figures:
    """Figures of one phase. `planned_s` is the asked duration; an interrupted run uses what ran."""
    ordered = sorted(records, key=lambda r: r.t)
    count = len(ordered)
    ok = sum(1 for r in ordered if r.outcome == "ok")
    timed_out = sum(1 for r in ordered if r.outcome == "timeout")
    failed = count - ok - timed_out
    latencies = sorted(r.ms for r in ordered)
    # The rate that went out: n requests at exactly r per second span n / r seconds of sends; a
    # generator (or users) that fell behind spreads them wider, an interrupted run covers less.
    sends = (ordered[-1].t - ordered[0].t + (1.0 / asked_rps if asked_rps else 0.0)) if ordered else 0.0
    elapsed = sends if interrupted or not asked_rps else max(planned_s, sends)
    achieved = count / elapsed if elapsed > 0 else None
    if asked_rps and count >= 20:
        # Between the 5th and 95th percentile of send times: one late request at either end does
        # not decide it, a generator that keeps falling behind does.
        first, last = int(0.05 * (count - 1)), int(0.95 * (count - 1))
        window = ordered[last].t - ordered[first].t
        achieved = (last - first) / window if window > 0 else achieved

    memory = [(i, r.memory_mb) for i, r in enumerate(ordered) if r.memory_mb is not None]
    warm = memory[int(len(memory) * MEMORY_WARMUP_SHARE):]
    fit = linear_fit([float(i) for i, _ in warm], [m for _, m in warm]) if len(warm) >= 2 else None
    tail = sorted(m for _, m in memory[-MEMORY_TAIL_SAMPLES:])

    costs = [r.cost_usd for r in ordered if r.cost_usd is not None]
    cost_each = mean(costs)
    confidences = [r.confidence for r in ordered if r.confidence is not None]
    low = (100.0 * sum(1 for c in confidences if c < confidence_threshold) / len(confidences)
           if confidences and confidence_threshold is not None else None)
    ok_records = [r for r in ordered if r.outcome == "ok"]
    with_id = (100.0 * sum(1 for r in ok_records if r.request_id) / len(ok_records)) if ok_records else None
    errors = Counter(r.error or r.outcome for r in ordered if r.outcome != "ok")
    failed_ids = tuple(r.request_id for r in ordered if r.outcome != "ok" and r.request_id)[:50]
    tokens_in = [float(r.input_tokens) for r in ordered if r.input_tokens is not None]
    tokens_out = [float(r.output_tokens) for r in ordered if r.output_tokens is not None]
    lags = sorted(r.lag_ms for r in ordered)

    return Figures(
        requests=count,
        ok=ok,
        failed=failed,
        timed_out=timed_out,
        error_rate_pct=100.0 * (count - ok) / count if count else None,
        elapsed_s=elapsed,
        asked_rps=asked_rps,
        achieved_rps=achieved,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        latency_p99_ms=percentile(latencies, 99),
        latency_max_ms=latencies[-1] if latencies else None,
        latency_mean_ms=mean(latencies),
        lag_p99_ms=percentile(lags, 99),
        latency_from_schedule_p99_ms=percentile(sorted(r.lag_ms + r.ms for r in ordered), 99),
        memory_samples=len(memory),
        memory_after_mb=percentile(tail, 50),
        memory_max_mb=max((m for _, m in memory), default=None),
        memory_growth_mb_per_10k=fit.per_unit * 10_000 if fit else None,
        memory_fit_intercept_mb=fit.intercept if fit else None,
        cost_samples=len(costs),
        cost_per_request_usd=cost_each,
        cost_per_1000_usd=cost_each * 1000 if cost_each is not None else None,
        projected_monthly_usd=cost_each * expected_requests_per_month if cost_each is not None else None,
        expected_requests_per_month=expected_requests_per_month,
        confidence_samples=len(confidences),
        confidence_mean=mean(confidences),
        low_confidence_pct=low,
        input_tokens_mean=mean(tokens_in),
        output_tokens_mean=mean(tokens_out),
        with_request_id_pct=with_id,
        distinct_inputs=len({r.input_index for r in ordered if r.input_index is not None}),
        errors_by_type=dict(errors.most_common()),
        failed_request_ids=failed_ids,
    )


@dataclass(frozen=True)
class InputCoverage:
    """Which inputs of the file a run sent, and how evenly."""

    path: str
    lines: int
    distribution: str
    weight_field: str | None
    requests: int
    distinct_sent: int
    top_input_share_pct: float | None  # requests that carried the most frequent input
    cut_at_limit: bool = False  # the file goes on past the `lines` inputs a load test reads


def input_coverage(records: Sequence[RequestRecord], *, path: str, lines: int, distribution: str,
                   weight_field: str | None, cut_at_limit: bool = False) -> InputCoverage:
    counts = Counter(r.input_index for r in records if r.input_index is not None)
    sent = sum(counts.values())
    top = 100.0 * counts.most_common(1)[0][1] / sent if sent else None
    return InputCoverage(path=path, lines=lines, distribution=distribution, weight_field=weight_field,
                         requests=len(records), distinct_sent=len(counts), top_input_share_pct=top,
                         cut_at_limit=cut_at_limit)


@dataclass(frozen=True)
class SlowRequest:
    request_id: str | None
    latency_ms: float
    status: int
    outcome: str
    worker: str
    input_index: int | None
    input_excerpt: str  # the body sent, redacted by the action's policy, cut to EXCERPT_CHARS
    replay: str | None  # the command that sends it again (None: the response carried no request_id)


#: An input excerpt in the report is at most this long.
EXCERPT_CHARS = 160


def slowest_requests(records: Sequence[RequestRecord], bodies: Sequence[bytes], *, replay_command: str,
                     redact: Callable[[Any], Any] = lambda value: value, count: int = 10) -> tuple[SlowRequest, ...]:
    """The `count` slowest requests with what they sent and how to send it again.

    `replay_command` has a ``{request_id}`` placeholder, e.g. ``deployer replay {request_id} --env staging``.
    """
    out = []
    for record in sorted(records, key=lambda r: r.ms, reverse=True)[:count]:
        excerpt = ""
        if record.input_index is not None and 0 <= record.input_index < len(bodies):
            try:
                text = json.dumps(redact(json.loads(bodies[record.input_index])), ensure_ascii=False)
            except ValueError:
                text = bodies[record.input_index].decode("utf-8", errors="replace")
            excerpt = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"
        out.append(SlowRequest(
            request_id=record.request_id, latency_ms=round(record.ms, 3), status=record.status,
            outcome=record.outcome, worker=record.worker, input_index=record.input_index, input_excerpt=excerpt,
            replay=replay_command.format(request_id=record.request_id) if record.request_id else None))
    return tuple(out)
