"""Monitoring precedence: spec action-level > @monitor > spec top-level."""

from __future__ import annotations

from handlers.config import resolve_policy

TOP = {"log_inputs": True, "log_outputs": True, "log_latency": True, "log_errors": True, "sample_rate": 0.1,
       "redaction": {"builtins": ["email"], "patterns": []}}


def test_top_level_applies_without_overrides() -> None:
    policy = resolve_policy(TOP, dict(TOP), {})
    assert policy.sample_rate == 0.1 and policy.redaction_builtins == ("email",)


def test_monitor_decorator_beats_top_level() -> None:
    policy = resolve_policy(TOP, dict(TOP), {"sample_rate": 1.0, "log_outputs": False})
    assert policy.sample_rate == 1.0 and policy.log_outputs is False


def test_spec_action_level_beats_the_decorator() -> None:
    action = {**TOP, "sample_rate": 0.0}
    policy = resolve_policy(TOP, action, {"sample_rate": 1.0})
    assert policy.sample_rate == 0.0


def test_explicit_action_fields_win_even_when_equal_to_top_level() -> None:
    policy = resolve_policy(TOP, dict(TOP), {"sample_rate": 1.0}, explicit=("sample_rate",))
    assert policy.sample_rate == 0.1
