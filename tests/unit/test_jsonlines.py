"""The JSON-lines reader every user data file goes through: evaluation sets and load-test inputs,
for the load test, the evaluation and the drill."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from deployer.errors import DeployerError
from deployer.evaluation.runner import load_examples
from deployer.jsonlines import JsonLinesFile
from deployer.loadtest.inputs import InputFileError, load_inputs
from deployer.local.front import drill


def reader(path: Path, max_bytes: int = 1 << 20) -> JsonLinesFile:
    return JsonLinesFile(path, what="data file", hint="fix the file", max_bytes=max_bytes)


def test_every_bad_line_is_reported_with_its_place_and_the_good_ones_still_read(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"a": 1}\r\n\n{"a": "caf\xff"}\nnot json\n[1]\n' + b"[" * 100_000 + b"\n" + b'{"a": 2}\n')
    with reader(path) as source:
        assert [(n, item) for n, item in source.objects("an object")] == [(1, {"a": 1}), (7, {"a": 2})]
    assert source.problems == [
        f"{path}:3: not UTF-8 text (byte 0xff at column 11)",
        f"{path}:4: not JSON (Expecting value, column 1)",
        f"{path}:5: each line must be an object",
        f"{path}:6: not usable JSON (nested too deeply)",
    ]
    with pytest.raises(DeployerError) as caught:
        source.check("the data file has bad lines:")
    assert str(caught.value).startswith("the data file has bad lines:\n" + f"{path}:3: not UTF-8")


def test_a_line_separator_inside_a_string_is_text_not_a_line_break(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"message": "one\u2028two\u0085three\x0cfour"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")

    with reader(path) as source:
        assert [item for _, item in source.objects("an object")] == [{"message": "one\u2028two\u0085three\x0cfour"}]


def test_many_problems_show_the_first_twenty_and_a_count(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("x\n" * 25)
    with reader(path) as source:
        list(source.objects("an object"))

    with pytest.raises(DeployerError) as caught:
        source.check("bad:")
    lines = str(caught.value).splitlines()
    assert len(lines) == 22 and lines[-1] == "... and 5 more" and lines[20].startswith(f"{path}:20:")


def test_a_file_over_the_limit_is_refused_even_as_one_endless_line(tmp_path: Path) -> None:
    lines, endless = tmp_path / "lines.jsonl", tmp_path / "endless.jsonl"
    lines.write_text('{"a": 1}\n' * 200)
    endless.write_bytes(b'{"a": "' + b"x" * 5000)

    for path in (lines, endless):
        with pytest.raises(DeployerError, match="is over 0 MB") as caught, reader(path, max_bytes=1000) as source:
            list(source.objects("an object"))
        assert caught.value.hint == "fix the file"


def test_the_hash_covers_the_whole_file_when_the_caller_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps({"input": i, "expected": i}) + "\n" for i in range(50)))

    examples, digest = load_examples(path, limit=3)

    assert [e.input for e in examples] == [0, 1, 2]
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def test_whether_more_follows_is_told_without_checking_it_and_the_hash_still_covers_all(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n\n  \nnot json\n{"a": 3}\n')
    with reader(path) as source:
        first = next(source.objects("an object"))
        assert first == (1, {"a": 1}) and source.more() and source.more()  # line 2, then the bad line 5
        assert source.problems == []  # never parsed
        assert source.sha256() == hashlib.sha256(path.read_bytes()).hexdigest()

    blank_tail = tmp_path / "blank_tail.jsonl"
    blank_tail.write_bytes(b'{"a": 1}\n\n \r\n')
    with reader(blank_tail) as source:
        assert [item for _, item in source.objects("an object")] == [{"a": 1}] and not source.more()
    endless = tmp_path / "endless.jsonl"
    endless.write_bytes(b'{"a": 1}\n' + b"x" * 5000)
    with pytest.raises(DeployerError, match="is over 0 MB"), reader(endless, max_bytes=1000) as source:
        next(source.objects("an object"))
        source.more()


def test_an_unreadable_file_says_which_and_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(DeployerError, match=r"cannot read the evaluation set .*missing\.jsonl") as caught:
        load_examples(tmp_path / "missing.jsonl")
    assert caught.value.hint and "evaluation.data" in caught.value.hint


def test_evaluation_lines_need_input_and_expected(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    path.write_text('{"input": "a", "expected": "b"}\n{"input": "a"}\n"text"\n')

    with pytest.raises(DeployerError) as caught:
        load_examples(path)
    assert f'{path}:2: each line must be {{"input": ..., "expected": ...}}' in str(caught.value)
    assert f'{path}:3: each line must be {{"input": ..., "expected": ...}}' in str(caught.value)


def test_a_load_test_input_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "inputs.jsonl"
    path.write_bytes(b'{"message": "ok"}\n{"message": "hi \xff"}\n')

    with pytest.raises(InputFileError) as caught:
        load_inputs(path, distribution="uniform", weight_field=None)
    assert f"{path}:2: not UTF-8 text (byte 0xff at column 17)" in str(caught.value)


def test_the_drill_skips_lines_the_load_test_and_the_evaluation_would_report(tmp_path: Path) -> None:
    inputs, evaluation = tmp_path / "inputs.jsonl", tmp_path / "eval.jsonl"
    inputs.write_bytes(b'{"message": "hi \xff"}\nnot json\n{"message": "a", "weight": 3}\n{"input": {"message": "b"}}\n')
    evaluation.write_bytes(b'{"input": 1, "expected": {"team": "cards"}}\n{"expected": {"team": "fraud\xff"}}\n'
                           b'{"input": 2, "expected": {"team": "fraud"}}\n{"input": 3, "expected": {"team": "fraud"}}\n')
    model = SimpleNamespace(load=SimpleNamespace(input_file=str(inputs), weight_field=None),
                            rollout=SimpleNamespace(quality=SimpleNamespace(field="team", labels=("cards", "fraud"))),
                            evaluation=SimpleNamespace(data_file=str(evaluation)))

    assert drill.load_inputs(model) == [{"message": "a"}, {"message": "b"}]  # type: ignore[arg-type]
    assert drill.quality_fault(model) == "team:fraud=cards"  # type: ignore[arg-type]
