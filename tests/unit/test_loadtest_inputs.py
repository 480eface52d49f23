"""Input files: every bad line reported; uniform, weighted and replay draws."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from deployer.loadtest.inputs import InputFileError, InputSampler, load_inputs


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "inputs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_weight_field_is_removed_from_the_body_that_is_sent(tmp_path: Path) -> None:
    path = write(tmp_path, ['{"message": "a", "weight": 3}', '{"message": "b"}'])
    inputs = load_inputs(path, distribution="weighted", weight_field="weight")
    assert [json.loads(b) for b in inputs.bodies] == [{"message": "a"}, {"message": "b"}]
    assert inputs.weights == (3.0, 1.0)  # a missing weight counts as 1


def test_every_bad_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = write(tmp_path, ['{"message": "ok"}', "not json", "[1, 2]", '{"message": "x", "weight": -1}'])
    with pytest.raises(InputFileError) as caught:
        load_inputs(path, distribution="weighted", weight_field="weight")
    message = str(caught.value)
    assert f"{path}:2: not JSON" in message
    assert f"{path}:3: each line must be a JSON object" in message
    assert f"{path}:4: weight must be a number >= 0" in message


def test_missing_and_empty_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read"):
        load_inputs(tmp_path / "absent.jsonl", distribution="uniform", weight_field=None)
    with pytest.raises(InputFileError, match="no requests"):
        load_inputs(write(tmp_path, ["", "  "]), distribution="uniform", weight_field=None)


def test_replay_sends_lines_in_file_order_and_wraps(tmp_path: Path) -> None:
    inputs = load_inputs(write(tmp_path, [json.dumps({"n": i}) for i in range(3)]), distribution="replay",
                         weight_field=None)
    sampler = InputSampler(inputs, "replay", seed=1)
    assert [sampler.next()[0] for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_replay_splits_the_file_between_workers(tmp_path: Path) -> None:
    inputs = load_inputs(write(tmp_path, [json.dumps({"n": i}) for i in range(6)]), distribution="replay",
                         weight_field=None)
    first = InputSampler(inputs, "replay", seed=1, offset=0, stride=2)
    second = InputSampler(inputs, "replay", seed=1, offset=1, stride=2)
    assert [first.next()[0] for _ in range(3)] == [0, 2, 4]
    assert [second.next()[0] for _ in range(3)] == [1, 3, 5]


def test_weighted_draws_follow_the_weights(tmp_path: Path) -> None:
    path = write(tmp_path, ['{"m": "heavy", "w": 9}', '{"m": "light", "w": 1}', '{"m": "never", "w": 0}'])
    sampler = InputSampler(load_inputs(path, distribution="weighted", weight_field="w"), "weighted", seed=7)
    counts = Counter(sampler.next()[0] for _ in range(20_000))
    assert counts[2] == 0
    assert 0.88 < counts[0] / 20_000 < 0.92


def test_uniform_draws_are_seeded_and_cover_every_line(tmp_path: Path) -> None:
    inputs = load_inputs(write(tmp_path, [json.dumps({"n": i}) for i in range(10)]), distribution="uniform",
                         weight_field=None)
    draws = [InputSampler(inputs, "uniform", seed=3).next()[0] for _ in range(2)]
    assert draws[0] == draws[1]
    sampler = InputSampler(inputs, "uniform", seed=3)
    assert {sampler.next()[0] for _ in range(500)} == set(range(10))


def test_the_weight_field_is_never_sent_even_when_not_weighted(tmp_path: Path) -> None:
    path = write(tmp_path, ['{"message": "a", "weight": 1}', '{"message": "b", "weight": 5}'])
    inputs = load_inputs(path, distribution="uniform", weight_field=None)
    assert [json.loads(b) for b in inputs.bodies] == [{"message": "a"}, {"message": "b"}]
    assert inputs.weights == (1.0, 1.0)


def test_a_file_longer_than_the_limit_is_used_up_to_it_and_says_so(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from deployer.loadtest import inputs as inputs_module
    from deployer.loadtest.checklist import real_data_item
    from deployer.loadtest.summary import input_coverage

    monkeypatch.setattr(inputs_module, "MAX_LINES", 3)  # the limit is 1,000,000: 3 keeps the file small
    exact = load_inputs(write(tmp_path, ['{"n": 1}', '{"n": 2}', '{"n": 3}', ""]), distribution="replay",
                        weight_field=None)
    assert len(exact) == 3 and not exact.cut_at_limit and exact.limit_note() is None  # blank lines are not inputs

    longer = load_inputs(write(tmp_path, ['{"n": 1}', '{"n": 2}', '{"n": 3}', "", "not json", '{"n": 4}']),
                         distribution="replay", weight_field=None)  # lines past the limit are not checked
    assert [json.loads(b) for b in longer.bodies] == [{"n": 1}, {"n": 2}, {"n": 3}] and longer.cut_at_limit
    assert longer.limit_note() == (f"{longer.path} goes on past its first 3 inputs: the load test uses those only "
                                   "(split the file, or draw a sample of it, to send the others)")
    coverage = input_coverage([], path=longer.path, lines=len(longer), distribution="replay", weight_field=None,
                              cut_at_limit=longer.cut_at_limit)
    assert "distinct inputs of the first 3 (of more) in" in real_data_item(coverage).measured
