"""Cost per request: tokens x prices + Lambda GB-seconds + the request fee."""

from __future__ import annotations

import pytest

from handlers.sdk import ModelResult
from handlers.usage import RequestUsage, cost_usd


def test_tokens_duration_and_request_fee_add_up() -> None:
    cost = cost_usd(input_tokens=1200, output_tokens=300, input_per_1k_usd=0.003, output_per_1k_usd=0.015,
                    billed_ms=250.0, memory_mb=1024, gb_second_usd=0.0000166667, request_usd=0.0000002)
    tokens = 1.2 * 0.003 + 0.3 * 0.015
    lambda_part = 1.0 * 0.25 * 0.0000166667
    assert cost == pytest.approx(tokens + lambda_part + 0.0000002, rel=1e-12)


def test_duration_is_billed_rounded_up_to_the_millisecond() -> None:
    kwargs = dict(input_tokens=0, output_tokens=0, input_per_1k_usd=0.0, output_per_1k_usd=0.0, memory_mb=512,
                  gb_second_usd=1.0, request_usd=0.0)
    assert cost_usd(billed_ms=0.2, **kwargs) == pytest.approx(0.5 * 0.001)  # type: ignore[arg-type]
    assert cost_usd(billed_ms=1.01, **kwargs) == pytest.approx(0.5 * 0.002)  # type: ignore[arg-type]


def test_usage_sums_tokens_and_keeps_the_lowest_confidence() -> None:
    usage = RequestUsage(deadline=0.0)
    usage.add(ModelResult("a", input_tokens=5, output_tokens=2, confidence=0.9))
    usage.add(ModelResult("b", input_tokens=7, output_tokens=1, confidence=0.6))
    usage.add(ModelResult("c", input_tokens=1, output_tokens=1))
    assert (usage.input_tokens, usage.output_tokens, usage.confidence, usage.model_calls) == (13, 4, 0.6, 3)
