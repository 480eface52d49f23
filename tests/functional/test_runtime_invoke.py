"""`deployer invoke`, `deployer bundle` and the code-side checks of `deployer validate`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from deployer.bundle.codecheck import check_code
from deployer.cli import main
from deployer.errors import SpecError
from deployer.invoke import LocalAgent, invoke
from deployer.validation import validate_spec
from tests.helpers.agent_fixtures import compile_project, forget_modules, write_project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    forget_modules()
    spec = write_project(tmp_path, sample_rate=1.0)
    monkeypatch.chdir(tmp_path)
    return spec


def test_invoke_returns_response_record_and_metrics(project: Path) -> None:
    result = invoke(compile_project(project), "classify", {"text": "double charge"})
    assert result.status == 200 and result.ok
    assert result.body["output"]["team"] == "billing"
    assert result.record["request_id"] == result.body["request_id"] == result.metrics["request_id"]
    assert result.metrics["InputTokens"] == 5


def test_local_agent_stays_warm_between_requests(project: Path) -> None:
    local = LocalAgent(compile_project(project))
    local.invoke("echo", {"text": "a"})
    second = local.invoke("echo", {"text": "b"})
    assert local.runtime.load().agent.calls == 2
    assert second.record["latency_ms"] < 50


def test_invoke_sends_strings_unparsed(project: Path) -> None:
    result = invoke(compile_project(project), "echo", "{oops")
    assert result.status == 400 and result.body["error"]["type"] == "BadRequest"


def test_cli_invoke_prints_response_log_line_and_metrics(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["invoke", "echo", "--data", '{"text": "hi"}'])
    out = capsys.readouterr().out
    assert "response (200)" in out and '"text": "hi"' in out
    assert '"event": "request"' in out and "namespace Deployer" in out and "Latency" in out


def test_cli_invoke_json_and_error_exit_code(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "echo", "-d", '{"text": 1}', "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == 422 and doc["log"]["error_type"] == "ValidationError"
    assert doc["metrics"]["ClientErrors"] == 1


def test_cli_invoke_reads_data_from_a_file(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "input.json").write_text('{"text": "from file"}')
    main(["invoke", "echo", "--data", "@input.json", "--json"])
    assert json.loads(capsys.readouterr().out)["response"]["output"] == {"text": "from file"}


def test_cli_bundle(project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_CACHE_DIR", os.environ.get("DEPLOYER_CACHE_DIR") or str(REPO / ".deployer" / "cache"))
    main(["bundle", "--env", "local", "--out", "bundles", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert Path(doc["path"]).is_dir() and doc["entry_point"] == "handlers.runtime.handler"


def test_cli_bundle_prints_each_phase_on_stderr_and_the_share_of_lambdas_limit(
        project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_CACHE_DIR", os.environ.get("DEPLOYER_CACHE_DIR") or str(REPO / ".deployer" / "cache"))
    assert main(["bundle", "--env", "local", "--out", "bundles"]) == 0
    out, err = capsys.readouterr()
    phases = err.splitlines()
    assert phases[0].startswith("bundle local: [") and "done:" in phases[-1]
    assert "MB unzipped (" in out and "of Lambda's limit" in out


def test_code_checks_pass_on_a_matching_agent(project: Path) -> None:
    assert check_code(compile_project(project)) == []


def test_code_checks_report_untyped_unmarked_and_missing_actions(project: Path) -> None:
    code = project.parent / "code" / "fixture_agent.py"
    source = code.read_text()
    source = source.replace("def echo(self, text: str, times: int = 1)", "def echo(self, text, times: int = 1)")
    source = source.replace("    @action\n    def fail", "    def fail")
    source = source.replace('@action(name="whoami")', '@action(name="who")')
    source = source.replace("def slow(self, seconds: float) -> str:", "def slow(self, *seconds: float):")
    code.write_text(source)
    problems: dict[str, list[str]] = {}
    for where, message in check_code(compile_project(project)):
        problems.setdefault(where, []).append(message)
    assert problems["actions.echo"] == ["FixtureAgent.echo parameter text has no type annotation"]
    assert problems["actions.fail"] == ["FixtureAgent.fail is not marked @action"]
    assert problems["actions.whoami"] == [
        "FixtureAgent has no @action 'whoami' (its actions: audited, classify, echo, gather, hang, slow, spin, triage, "
        "unserializable, who)"]
    assert problems["actions.slow"] == [
        "FixtureAgent.slow parameter *seconds is not allowed: inputs are named JSON fields",
        "FixtureAgent.slow has no return type annotation"]


def test_code_checks_report_import_errors_with_their_line(project: Path) -> None:
    (project.parent / "code" / "fixture_agent.py").write_text("import os\nimport numpyy\n")
    problems = check_code(compile_project(project))
    assert problems == [("code.entrypoint",
                         "importing fixture_agent failed: ModuleNotFoundError: No module named 'numpyy' "
                         "(fixture_agent.py:2)")]


def test_code_checks_report_a_missing_loader_and_artifact(project: Path) -> None:
    (project.parent / "code" / "fixture_model.py").write_text("def other(a, b): pass\n")
    (project.parent / "code" / "model" / "keywords.json").unlink()
    problems = dict(check_code(compile_project(project)))
    assert problems["model.id"] == "fixture_model has no function load"
    assert "model/keywords.json does not exist" in problems["code.artifacts.0"]


def test_validate_locates_code_problems_in_the_spec(project: Path) -> None:
    code = project.parent / "code" / "fixture_agent.py"
    code.write_text(code.read_text().replace("    @action\n    def fail", "    def fail"))
    with pytest.raises(SpecError) as info:
        validate_spec(str(project))
    message = str(info.value)
    assert "agent.yaml:" in message and "actions.fail" in message and "is not marked @action" in message


def test_local_agent_from_spec(project: Path) -> None:
    agent = LocalAgent.from_spec(project, "local")
    first = agent.invoke("echo", {"text": "a"}, request_id="r-1")
    assert first.init_ms is not None and first.body["request_id"] == "r-1"
    assert agent.invoke("echo", {"text": "b"}).init_ms is None
