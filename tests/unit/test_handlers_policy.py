"""Monitoring precedence: spec action-level > @monitor > spec top-level.

The compiler merges the spec (action level over top level) and names the fields the action level
pinned; the runtime layers `@monitor` over the other fields only.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

from handlers.config import RuntimeConfig, resolve_policy
from handlers.runtime import Runtime
from tests.helpers.agent_fixtures import compile_project, forget_modules, write_project

TOP = {"log_inputs": True, "log_outputs": True, "log_latency": True, "log_errors": True, "sample_rate": 0.1,
       "redaction": {"builtins": ["email"], "patterns": []}}


def test_top_level_applies_without_overrides() -> None:
    policy = resolve_policy(dict(TOP), {})
    assert policy.sample_rate == 0.1 and policy.redaction_builtins == ("email",)


def test_monitor_decorator_beats_top_level() -> None:
    policy = resolve_policy(dict(TOP), {"sample_rate": 1.0, "log_outputs": False})
    assert policy.sample_rate == 1.0 and policy.log_outputs is False


def test_spec_action_level_beats_the_decorator() -> None:
    policy = resolve_policy({**TOP, "sample_rate": 0.0}, {"sample_rate": 1.0}, pinned=("sample_rate",))
    assert policy.sample_rate == 0.0


def test_a_pinned_field_wins_even_when_equal_to_top_level_and_others_follow_the_decorator() -> None:
    policy = resolve_policy(dict(TOP), {"sample_rate": 1.0, "log_outputs": False}, pinned=("sample_rate",))
    assert policy.sample_rate == 0.1 and policy.log_outputs is False


def _audited(tmp_path: Path, action_monitoring: str) -> tuple[float, bool]:
    """`audited` (decorated `@monitor(sample_rate=1.0, log_outputs=False)`) as the real runtime loads it,
    with top-level `sample_rate: 0.0` and `actions.audited` given `action_monitoring`."""
    forget_modules()
    spec = write_project(tmp_path, sample_rate=0.0)
    text = spec.read_text()
    spec.write_text(text.replace("  audited: {timeout: 2s}", f"  audited: {{timeout: 2s{action_monitoring}}}"))
    model = compile_project(spec)
    runtime = Runtime(RuntimeConfig.from_dict(model.runtime_config()), stream=io.StringIO(), environ={},
                      rng=random.Random(1))
    action = runtime.load().actions["audited"]
    return action.sample_rate, action.log_outputs


def test_an_action_pinning_the_top_level_sample_rate_still_beats_monitor_in_the_runtime(tmp_path: Path) -> None:
    # the action sets sample_rate equal to the top level: it is pinned all the same, so @monitor loses
    assert _audited(tmp_path, ", monitoring: {sample_rate: 0.0}") == (0.0, False)


def test_without_an_action_level_value_monitor_beats_the_top_level_in_the_runtime(tmp_path: Path) -> None:
    assert _audited(tmp_path, "") == (1.0, False)


def test_the_compiled_model_names_the_fields_the_action_level_pinned(tmp_path: Path) -> None:
    spec = write_project(tmp_path)
    spec.write_text(spec.read_text().replace("  audited: {timeout: 2s}",
                                             "  audited: {timeout: 2s, monitoring: {sample_rate: 0.0, log_inputs: true}}"))
    action = compile_project(spec).action("audited")
    assert action.monitoring_pinned == ("log_inputs", "sample_rate")
    assert compile_project(spec).action("echo").monitoring_pinned == ()
