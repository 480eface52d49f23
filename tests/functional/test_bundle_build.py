"""The Lambda bundle: deterministic, content-hashed, runnable by a plain Python like Lambda's."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deployer.bundle import CONFIG_FILE, build, bundle_hash
from deployer.bundle.deps import find_interpreter, platforms
from deployer.errors import DeployerError
from tests.helpers.agent_fixtures import compile_project, write_project

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("DEPLOYER_CACHE_DIR") or REPO / ".deployer" / "cache")
PYTHON = "3.12"

RUN_HANDLER = r"""
import json, sys, time
bundle = sys.argv[1]
sys.path[:] = [bundle] + [p for p in sys.path if p and "site-packages" not in p]
started = time.perf_counter()
import handlers.runtime
import_ms = (time.perf_counter() - started) * 1000
heavy_at_import = sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "boto3", "botocore", "structlog", "yaml"})

class Context:
    aws_request_id = "lambda-req"
    function_version = "4"
    memory_limit_in_mb = 512
    def get_remaining_time_in_millis(self):
        return 10_000

answers = []
for line in sys.stdin:
    action, body = json.loads(line)
    event = {"version": "2.0", "rawPath": "/" + action, "headers": {},
             "requestContext": {"http": {"method": "POST", "path": "/" + action}}, "body": body,
             "isBase64Encoded": False}
    answers.append(handlers.runtime.handler(event, Context()))
print("RESULT " + json.dumps({"answers": answers, "import_ms": import_ms, "heavy_at_import": heavy_at_import,
                               "handlers_file": handlers.runtime.__file__}))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("bundle-project"), sample_rate=1.0)


@pytest.fixture(scope="module")
def built(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build(compile_project(project), tmp_path_factory.mktemp("out"), cache_dir=CACHE)


def test_bundle_holds_config_code_artifacts_handlers_and_dependencies(built: Any) -> None:
    root = built.path
    config = json.loads((root / CONFIG_FILE).read_text())
    assert config["code"]["root"] == "." and config["agent"] == "fixture-agent"
    for relative in ("handlers/runtime.py", "handlers/providers/ollama.py", "fixture_agent.py", "fixture_model.py",
                     "model/keywords.json", "pydantic/__init__.py"):
        assert (root / relative).is_file(), relative
    assert not (root / "notes.txt").exists()  # only .py files and declared artifacts
    assert not (root / "agent.yaml").exists()
    assert not (root / "boto3").exists()  # the Lambda runtime provides boto3
    assert built.path.name == f"fixture-agent-local-{built.hash[:16]}"
    assert bundle_hash(root) == built.hash


def test_pyc_files_are_hash_based(built: Any) -> None:
    if not built.compiled:
        pytest.skip(f"no python{PYTHON} on this machine")
    pyc = built.path / "__pycache__" / "fixture_agent.cpython-312.pyc"
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b11  # hash-based, checked
    assert (built.path / "handlers" / "__pycache__" / "runtime.cpython-312.pyc").exists()
    assert (built.path / "pydantic" / "__pycache__").is_dir()


def test_builds_are_deterministic(project: Path, built: Any, tmp_path: Path) -> None:
    again = build(compile_project(project), tmp_path, cache_dir=CACHE)
    assert again.hash == built.hash and again.path.name == built.path.name


def test_a_config_only_change_changes_the_hash(project: Path, built: Any, tmp_path: Path) -> None:
    model = compile_project(project)
    changed = dataclasses.replace(model, monitoring=dataclasses.replace(model.monitoring, sample_rate=0.5))
    assert build(changed, tmp_path, cache_dir=CACHE).hash != built.hash


def test_a_missing_artifact_is_reported(project: Path, tmp_path: Path) -> None:
    model = compile_project(project)
    broken = dataclasses.replace(model, code=dataclasses.replace(model.code, artifacts=("model/missing.bin",)))
    with pytest.raises(DeployerError, match=r"model/missing\.bin does not exist"):
        build(broken, tmp_path, cache_dir=CACHE)


def test_platform_tags_follow_architecture_and_python() -> None:
    assert platforms("arm64", "3.11") == ("manylinux2014_aarch64",)
    assert "manylinux_2_28_x86_64" in platforms("x86_64", "3.12")


def run_bundle(path: Path, requests: list[tuple[str, str]], tmp_path: Path) -> dict[str, Any]:
    interpreter = find_interpreter(PYTHON)
    if interpreter is None:
        pytest.skip(f"no python{PYTHON} on this machine")
    stdin = "".join(json.dumps(r) + "\n" for r in requests)
    env = {"PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_FUNCTION_VERSION": "4", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([interpreter, "-I", "-S", "-c", RUN_HANDLER, str(path)], input=stdin, capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result_line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(result_line[len("RESULT "):])
    result["lines"] = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return result


def test_the_bundle_handler_runs_in_a_plain_python_process(built: Any, tmp_path: Path) -> None:
    result = run_bundle(built.path, [
        ("classify", json.dumps({"text": "charge on my card"})),
        ("echo", json.dumps({"text": 5})),
        ("nope", "{}"),
        ("fail", json.dumps({"text": "x@y.io"})),
    ], tmp_path)
    assert result["handlers_file"].startswith(str(built.path))
    assert result["heavy_at_import"] == []  # nothing heavy on the import path
    statuses = [answer["statusCode"] for answer in result["answers"]]
    assert statuses == [200, 422, 404, 500]
    first = json.loads(result["answers"][0]["body"])
    assert first["output"]["team"] in ("billing", "cards") and first["version"] == "4"
    records = [line for line in result["lines"] if line.get("event") == "request"]
    metrics = [line for line in result["lines"] if "_aws" in line]
    assert len(records) == 4 and len(metrics) == 4
    assert records[3]["input"] == {"text": "[REDACTED:email]"}
    assert metrics[0]["Version"] == "4" and metrics[0]["ModelConfidence"] > 0


def test_an_agent_that_logs_runs_from_its_bundle_alone(project: Path, tmp_path_factory: pytest.TempPathFactory,
                                                      tmp_path: Path) -> None:
    """`self.log` needs structlog in the bundle: the bundle ships it, the plain process has no site-packages."""
    from tests.helpers.agent_fixtures import AGENT_MODULE

    source = project.parent / "code" / f"{AGENT_MODULE}.py"
    original = source.read_text()
    logging_agent = original.replace(
        "        return Decision(team=first.text, confidence=min(first.confidence or 0, second.confidence or 0))",
        "        self.log.info('classified', team=first.text)\n"
        "        return Decision(team=first.text, confidence=min(first.confidence or 0, second.confidence or 0))")
    assert logging_agent != original
    source.write_text(logging_agent)
    try:
        logged = build(compile_project(project), tmp_path_factory.mktemp("logged"), cache_dir=CACHE)
    finally:
        source.write_text(original)
    result = run_bundle(logged.path, [("classify", json.dumps({"text": "charge on my card"}))], tmp_path)
    assert [answer["statusCode"] for answer in result["answers"]] == [200]
    agent_lines = [line for line in result["lines"] if line.get("message") == "classified"]
    assert len(agent_lines) == 1 and agent_lines[0]["team"] == "billing"
    record = next(line for line in result["lines"] if line.get("event") == "request")
    assert agent_lines[0]["request_id"] == record["request_id"]


def test_the_build_reports_each_phase_with_its_elapsed_time(project: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    info = build(compile_project(project), tmp_path, cache_dir=CACHE, progress=lines.append)
    assert all(line.startswith("bundle local: [") and "s] " in line for line in lines), lines
    assert any("dependencies from the cache" in line for line in lines)
    assert any("hashing" in line for line in lines)
    assert "done:" in lines[-1] and f"{info.size_bytes / 2**20:,.1f} MB unzipped" in lines[-1]  # MB as Lambda counts them


def test_an_aws_bundle_over_lambdas_limit_fails_once_built_with_what_to_do(project: Path, tmp_path: Path) -> None:
    from deployer.bundle.limits import BundleTooLarge

    model = dataclasses.replace(compile_project(project), target="aws")
    with pytest.raises(BundleTooLarge) as raised:
        build(model, tmp_path, cache_dir=CACHE, limit_bytes=1_000_000)
    text = str(raised.value)
    assert "over Lambda's 1 MB unzipped limit (1,000,000 bytes)" in text and "largest parts: pydantic" in text
    assert "samples/support_router" in text and "built at" in text
    assert raised.value.size.total_bytes > 1_000_000


def test_a_local_bundle_over_the_limit_is_built_and_carries_its_size(project: Path, tmp_path: Path) -> None:
    info = build(compile_project(project), tmp_path, cache_dir=CACHE, limit_bytes=1_000_000)
    assert info.size is not None and info.size.over and info.size.total_bytes == info.size_bytes


def test_the_estimate_validate_makes_is_close_to_the_built_size(project: Path, built: Any) -> None:
    from deployer.bundle import estimate_size

    estimate = estimate_size(compile_project(project), cache_dir=CACHE)
    assert not estimate.exact and "cached install" in estimate.method
    assert abs(estimate.total_bytes - built.size_bytes) <= 0.2 * built.size_bytes
