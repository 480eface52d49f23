"""`deployer validate` through the real console script: exit codes, output shape, never a traceback.

Run from tests/fixtures/invalid/ so that file names print as typed; each invalid case prints its
`.expected` lines on stderr (then the count for located problems) and exits 1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "invalid"
DEPLOYER = Path(sys.executable).parent / "deployer"

pytestmark = pytest.mark.skipif(
    not (ROOT / "deployer" / "commands" / "spec.py").is_file() or not DEPLOYER.is_file(),
    reason="the validate command (deployer/commands/spec.py) or the console script is not there yet",
)


def validate(*args: str, cwd: Path = FIXTURES) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DEPLOYER), "validate", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def expected_lines(stem: str) -> list[str]:
    return (FIXTURES / f"{stem}.expected").read_text(encoding="utf-8").splitlines()


def test_the_root_agent_yaml_is_valid_and_exits_0() -> None:
    result = validate(cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("agent.yaml: valid (support-router: 3 environments")
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "stem",
    [
        "03_yaml_unclosed_quote",
        "07_tab_indentation",
        "15_unknown_top_level_key",
        "40_bake_shorter_than_alarm_window",
        "42_env_override_alarm_period_45s",
        "60_secret_api_key_literal",
        "65_empty_file",
        "69_binary_file",
        "70_not_utf8",
        "71_yaml_bomb",
        "72_recursive_alias",
        "77_many_problems",
        "78_many_compile_problems",
        "82_env_override_loopback_slack_in_aws",
        "86_shape_error_beside_compile_error",
        "87_infinite_and_nan_numbers",
        "97_redaction_pattern_backtracks",
    ],
)
def test_an_invalid_spec_prints_every_located_problem_then_the_count_and_exits_1(stem: str) -> None:
    result = validate("--spec", f"{stem}.yaml")
    expected = expected_lines(stem)
    count = len(expected)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [*expected, f"{count} problem{'s' if count != 1 else ''} found"]
    assert "Traceback" not in result.stderr


def test_a_missing_spec_file_says_so_with_a_hint_and_exits_1() -> None:
    result = validate("--spec", "76_missing_file.yaml")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == expected_lines("76_missing_file")


def test_an_unknown_env_names_the_defined_ones_and_exits_1() -> None:
    result = validate("--spec", "75_unknown_env.yaml", "--env", "prod")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == expected_lines("75_unknown_env")


def test_a_ten_megabyte_spec_is_refused_with_exit_1(tmp_path: Path) -> None:
    big = tmp_path / "agent.yaml"
    big.write_bytes(b"name: demo-agent\n" + b"#" * 80 + b"\n" + (b"# padding\n" * 1_048_576))
    result = validate("--spec", "agent.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith("agent.yaml:1:1: file is 10.5 MB; an agent spec may be at most 1 MB")
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_file_that_never_ends_is_refused_after_the_size_limit_with_exit_1() -> None:
    result = validate("-f", "/dev/zero")
    assert result.returncode == 1
    assert "more than 1 MB" in result.stderr.splitlines()[0]
    assert "Traceback" not in result.stderr


BIG_SPEC = """\
name: spam-filter
code: {path: ., entrypoint: spam_agent:SpamFilter, requirements: [REQUIREMENTS]}
runtime: {python: "3.12", timeout: 10s}
model: {provider: python, id: spam_agent:load}
actions: {classify: {timeout: 2s}}
environments:
  production: {}
"""
SPAM_AGENT = """\
from handlers import action, agent


def load(artifacts_dir, parameters):
    return None


@agent
class SpamFilter:
    @action
    def classify(self, text: str) -> str:
        return "ham"
"""


def _spam_project(tmp_path: Path, requirements: str) -> Path:
    (tmp_path / "spam_agent.py").write_text(SPAM_AGENT)
    (tmp_path / "agent.yaml").write_text(BIG_SPEC.replace("REQUIREMENTS", requirements))
    return tmp_path


def test_an_aws_bundle_estimated_over_lambdas_limit_is_located_with_what_to_do(tmp_path: Path) -> None:
    # installed here with the dev tools: scikit-learn pulls in scipy and numpy, with matplotlib and
    # aws-cdk-lib (the jsii bundle) the estimate is well over 250 MB whatever the wheels' exact sizes
    result = validate(cwd=_spam_project(tmp_path, "scikit-learn, matplotlib, aws-cdk-lib"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "agent.yaml:2:" in result.stderr and "code.requirements: the production bundle is about" in result.stderr
    assert "over Lambda's 250 MB unzipped limit" in result.stderr and "scipy" in result.stderr
    assert "hint: to fit: trim code.requirements" in result.stderr and "Traceback" not in result.stderr


def test_a_small_aws_bundle_passes_validate(tmp_path: Path) -> None:
    result = validate(cwd=_spam_project(tmp_path, ""))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lambda" not in result.stderr
