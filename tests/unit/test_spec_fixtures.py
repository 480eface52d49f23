"""Every invalid spec under tests/fixtures/invalid/ reports exactly its expected, located problems.

Each fixture is loaded and compiled the way `deployer validate` does it (load_spec, then
compile_all or compile_environment for `# test: --env NAME`), from the fixture directory so that
file names show as the user typed them. Only `DeployerError` may escape: anything else is a bug.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployer.compiler import compile_all, compile_environment
from deployer.errors import DeployerError, SpecError
from deployer.spec import load_spec
from deployer.spec.loader import validate_document
from deployer.spec.source import MAX_FILE_BYTES, parse_document

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "invalid"
EXPECTED = sorted(FIXTURES.glob("*.expected"))
ISSUE_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<rest>.+)$")
MINIMAL_SPEC = """\
name: demo-agent
code:
  entrypoint: agent:Agent
model:
  provider: python
  id: model:load
actions:
  answer: {}
environments:
  staging: {}
"""


def problems_of(spec_name: str) -> list[str]:
    """What validating `spec_name` (relative to the current directory) reports, one line each."""
    path = Path(spec_name)
    directive = re.match(rb"# test: --env (\S+)", path.read_bytes()) if path.is_file() else None
    try:
        loaded = load_spec(spec_name)
        if directive:
            compile_environment(loaded, directive.group(1).decode())
        else:
            compile_all(loaded)
    except SpecError as exc:
        count = len(exc.issues)
        assert str(exc).splitlines()[-1] == f"{count} problem{'s' if count != 1 else ''} found"
        return [str(issue) for issue in exc.issues]
    except DeployerError as exc:
        return str(exc).splitlines()
    pytest.fail(f"{spec_name} was accepted; it should be invalid")


@pytest.mark.parametrize("expected", EXPECTED, ids=[p.stem for p in EXPECTED])
def test_invalid_spec_reports_exactly_its_expected_problems(expected: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    assert problems_of(f"{expected.stem}.yaml") == expected.read_text(encoding="utf-8").splitlines()


def test_there_are_at_least_45_invalid_specs_and_each_has_its_expected_messages() -> None:
    specs = {p.stem for p in FIXTURES.glob("*.yaml")}
    expectations = {p.stem for p in EXPECTED}
    assert len(expectations) >= 45
    assert specs - expectations == set(), "every invalid spec needs a .expected file"
    assert expectations - specs == {"76_missing_file"}, "only the missing-file case has no .yaml"


def test_every_located_expectation_is_file_line_col_path_message() -> None:
    for expected in EXPECTED:
        for line in expected.read_text(encoding="utf-8").splitlines():
            match = ISSUE_LINE.match(line)
            if match is None:  # errors about no place in the file: a missing file, an unknown --env
                assert expected.stem in {"75_unknown_env", "76_missing_file"}, line
                continue
            assert match["file"] == f"{expected.stem}.yaml"
            assert int(match["line"]) >= 1 and int(match["col"]) >= 1


def test_a_spec_with_many_problems_reports_all_of_them_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    load_problems = problems_of("77_many_problems.yaml")
    compile_problems = problems_of("78_many_compile_problems.yaml")
    assert len(load_problems) == 9
    assert len(compile_problems) == 6
    assert {line.split(": ")[1] for line in load_problems} == {
        "name",
        "runtime.memory_mb",
        "runtime.timout",
        "model.api_key",
        "monitoring.sample_rate",
        # shape errors elsewhere hide none of the cross-field problems of the sound sections
        "alerts.errors.window",
        "alerts.errors.action",
        "rollout.steps[1].percent",
    }


def test_a_ten_megabyte_file_is_refused_without_being_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "agent.yaml"
    filler = "# padding padding padding padding padding padding padding padding padding padding\n"
    big.write_text(MINIMAL_SPEC + filler * (10 * 1024 * 1024 // len(filler)), encoding="utf-8")
    assert big.stat().st_size > 10 * 1_000_000 > MAX_FILE_BYTES
    monkeypatch.chdir(tmp_path)
    assert problems_of("agent.yaml") == ["agent.yaml:1:1: file is 10.5 MB; an agent spec may be at most 1 MB"]


def test_a_billion_laughs_bomb_is_refused_before_it_expands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]  # 10**10 values
    (tmp_path / "agent.yaml").write_text(MINIMAL_SPEC + "\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (problem,) = problems_of("agent.yaml")
    assert problem.startswith("agent.yaml:")
    assert "anchors and aliases" in problem and "refusing it" in problem


def test_a_binary_file_is_refused_at_its_first_nul_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "agent.yaml").write_bytes(b"name: demo-agent\n\x7fELF\x02\x01\x01\x00\x00\x00")
    monkeypatch.chdir(tmp_path)
    assert problems_of("agent.yaml") == ["agent.yaml:2:8: binary data (a NUL byte); an agent spec is YAML text"]


def test_a_directory_given_as_the_spec_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(DeployerError) as caught:
        load_spec(tmp_path)
    assert "it is a directory" in str(caught.value)
    assert not isinstance(caught.value, SpecError)


def test_the_minimal_spec_the_fixtures_start_from_is_valid(tmp_path: Path) -> None:
    (tmp_path / "agent.yaml").write_text(MINIMAL_SPEC, encoding="utf-8")
    models = compile_all(load_spec(tmp_path / "agent.yaml"))
    assert list(models) == ["staging"]


MUTATIONS = ("", "[1, {a: b}]", "{x: 1}", "-5", "null", "!Ref x")


def test_no_edit_of_any_line_of_the_root_spec_escapes_as_anything_but_a_deployer_error() -> None:
    """Drop each line of agent.yaml, and give each key a value of the wrong shape: never a traceback."""
    lines = (FIXTURES.parents[2] / "agent.yaml").read_text(encoding="utf-8").splitlines()
    variants = []
    for index, line in enumerate(lines):
        variants.append(lines[:index] + lines[index + 1 :])
        if key := re.match(r"^(\s*(?:- )?[\w]+:)", line):
            value = MUTATIONS[index % len(MUTATIONS)]  # each kind of wrong value lands on about a sixth of the keys
            variants.append([*lines[:index], f"{key.group(1)} {value}", *lines[index + 1 :]])
    refused = 0
    for variant in variants:
        raw = ("\n".join(variant) + "\n").encode()
        try:
            compile_all(validate_document(parse_document(raw, name="agent.yaml", path=FIXTURES / "agent.yaml")))
        except DeployerError:
            refused += 1
    assert len(variants) > 200
    assert refused > len(variants) // 3
