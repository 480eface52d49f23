"""Profile resolution: flag -> spec, one field at a time; every usage problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployer.loadtest.plan import (
    LoadTestUsageError,
    Overrides,
    function_url_region,
    parse_concurrency,
    resolve_plan,
)
from tests.helpers.loadtest_target import local_model

URL = "http://127.0.0.1:9"


def test_spec_profile_is_used_when_no_flag_is_given(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"message": "hi"}\n')
    model = local_model(load={"input_file": str(inputs)})
    plan = resolve_plan(model, Overrides(), target_url=URL)
    assert (plan.rps, plan.duration_s, plan.users, plan.workers) == (50.0, 20.0, 10, 1)
    assert plan.sources["rps"] == "spec" and plan.sources["workers"] == "default"
    assert plan.input_file == str(inputs)
    assert plan.request_timeout_s == model.actions[0].timeout_s + 1


def test_flags_override_the_spec_field_by_field(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"message": "hi"}\n')
    plan = resolve_plan(local_model(), Overrides(rps=300, duration_s=5, input_file=str(inputs), workers=2,
                                                 concurrency=(10, 20), target_url=URL))
    assert (plan.rps, plan.duration_s, plan.users, plan.workers) == (300.0, 5.0, 10, 2)
    assert plan.concurrency == (10, 20)
    assert plan.sources["rps"] == "flag" and plan.sources["users"] == "spec"
    assert plan.sweep_level_s == 5.0


def test_every_usage_problem_is_reported_at_once() -> None:
    with pytest.raises(LoadTestUsageError) as caught:
        resolve_plan(local_model(), Overrides(rps=-1, duration_s=0, users=1, workers=3, input_file="/nope.jsonl"))
    message = str(caught.value)
    for expected in ("--rps", "--duration", "--users (1) must be at least --workers (3)", "/nope.jsonl",
                     "no target"):
        assert expected in message


def test_concurrency_levels_parse_sorted_and_unique() -> None:
    assert parse_concurrency("1000, 100,100") == (100, 1000)
    with pytest.raises(LoadTestUsageError):
        parse_concurrency("100,lots")


def test_function_urls_are_signed_for_their_region_unless_told_otherwise(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"message": "hi"}\n')
    url = "https://abcdefghij1234567890.lambda-url.eu-west-1.on.aws/"
    assert function_url_region(url) == "eu-west-1"
    assert function_url_region("http://127.0.0.1:8080") is None
    model = local_model(load={"input_file": str(inputs)})
    assert resolve_plan(model, Overrides(target_url=url)).sigv4_region == "eu-west-1"
    assert resolve_plan(model, Overrides(), target_url=url, iam_auth=False).sigv4_region is None
    assert resolve_plan(model, Overrides(target_url=url, sign="never")).sigv4_region is None
    assert resolve_plan(model, Overrides(target_url=URL, sign="always")).sigv4_region == model.region
    assert resolve_plan(model, Overrides(target_url=url)).target_url == url.rstrip("/")


def test_runs_that_would_record_too_many_requests_are_refused(tmp_path: Path) -> None:
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"message": "hi"}\n')
    with pytest.raises(LoadTestUsageError, match="at most 2,000,000 are recorded"):
        resolve_plan(local_model(), Overrides(rps=10_000, duration_s=3600, input_file=str(inputs), target_url=URL))
