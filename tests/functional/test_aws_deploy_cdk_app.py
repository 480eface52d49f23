"""cdk.json's app runs the way the CDK CLI runs it (`cdk synth -c env=staging`), without the CLI.

The CLI starts `app` from cdk.json with the output directory in CDK_OUTDIR and the context in
CDK_CONTEXT_JSON: cdk.json's `context`, then the `-c` values, then the switches of its own settings
(aws-cdk-cli `prepareContext`: path and asset metadata, version reporting, bundling stacks). This
does the same, then checks that `deployer synth` writes the same template.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK = "support-router-staging"
#: What the CDK CLI adds to the context with its default settings.
CLI_SETTINGS_CONTEXT = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True,
                        "aws:cdk:version-reporting": True, "aws:cdk:bundling-stacks": ["**"]}


def run_cdk_app(out: Path, **flags: str) -> subprocess.CompletedProcess[str]:
    """`cdk synth -c key=value ...` from the repository root, writing into `out`."""
    cdk_json = json.loads((ROOT / "cdk.json").read_text())
    command = [sys.executable if part == "python" else part for part in shlex.split(cdk_json["app"])]
    context = {**cdk_json["context"], **flags, **CLI_SETTINGS_CONTEXT}
    env = {**os.environ, "CDK_OUTDIR": str(out), "CDK_CONTEXT_JSON": json.dumps(context),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    return subprocess.run(command, cwd=ROOT, env=env, timeout=300, capture_output=True, text=True)


def template(out: Path, stack: str = STACK) -> dict[str, Any]:
    return json.loads((out / f"{stack}.template.json").read_text())  # type: ignore[no-any-return]


def alias_version(resources: dict[str, Any]) -> Any:
    return next(r["Properties"]["FunctionVersion"] for r in resources.values() if r["Type"] == "AWS::Lambda::Alias")


def without_version_reporting(cli_template: dict[str, Any]) -> dict[str, Any]:
    """The CLI's template less what only its version reporting adds (`deployer synth` turns it off)."""
    resources = {k: v for k, v in cli_template["Resources"].items() if v["Type"] != "AWS::CDK::Metadata"}
    conditions = {k: v for k, v in cli_template.get("Conditions", {}).items() if k != "CDKMetadataAvailable"}
    stripped = {**cli_template, "Resources": resources, "Conditions": conditions}
    return {k: v for k, v in stripped.items() if v != {}}


def test_cdk_json_app_and_deployer_synth_write_the_same_template(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from deployer.cli import main

    cli = run_cdk_app(tmp_path / "cli" / "cdk.out", env="staging", stable_version="7")
    assert cli.returncode == 0, cli.stderr
    main(["synth", "--spec", str(ROOT / "agent.yaml"), "--env", "staging", "--stable-version", "7",
          "--out", str(tmp_path / "lib" / "cdk.out")])
    assert "warning" not in capsys.readouterr().err

    by_cli, by_deployer = template(tmp_path / "cli" / "cdk.out"), template(tmp_path / "lib" / "cdk.out")
    assert any(r["Type"] == "AWS::CDK::Metadata" for r in by_cli["Resources"].values())
    assert without_version_reporting(by_cli) == by_deployer
    assert alias_version(by_deployer["Resources"]) == "7"  # the state machine moves it, not CloudFormation


def test_cdk_json_app_starts_a_first_deployment_on_the_new_version(tmp_path: Path) -> None:
    result = run_cdk_app(tmp_path / "cdk.out", env="staging", spec="agent.yaml", stable_version="none")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    assert STACK in manifest["artifacts"]
    resources = template(tmp_path / "cdk.out")["Resources"]
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in resources.values())
    new_version = alias_version(resources)["Fn::GetAtt"]  # nothing served before: the alias starts on it
    assert "CurrentVersion" in new_version[0] and new_version[1] == "Version"
    assert (tmp_path / ".deployer").is_dir()  # the bundle is built next to the CLI's output, not in the checkout


def test_cdk_json_app_refuses_a_step_functions_environment_without_the_served_version(tmp_path: Path) -> None:
    result = run_cdk_app(tmp_path / "cdk.out", env="staging")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error = result.stderr[result.stderr.index("error: "):]
    for part in ("support-router (staging)", "Step Functions", "skipped", "-c stable_version=N",
                 "deployer status --env staging", "aws lambda get-alias --function-name support-router-staging",
                 "-c stable_version=none", "first deployment"):
        assert part in error, part
    assert not (tmp_path / "cdk.out" / f"{STACK}.template.json").exists()


def test_deployer_synth_without_the_served_version_warns_that_the_alias_is_on_the_new_version(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from deployer.cli import main

    main(["synth", "--spec", str(ROOT / "agent.yaml"), "--env", "staging", "--out", str(tmp_path / "cdk.out")])
    err = capsys.readouterr().err
    assert "warning: support-router (staging) rolls out through Step Functions" in err
    assert "--stable-version N" in err and "`deployer deploy`, which reads it" in err
    assert "CurrentVersion" in alias_version(template(tmp_path / "cdk.out")["Resources"])["Fn::GetAtt"][0]


def test_deployer_synth_refuses_one_served_version_for_every_environment(tmp_path: Path) -> None:
    from deployer.cli import main

    assert main(["synth", "--spec", str(ROOT / "agent.yaml"), "--stable-version", "7", "--out",
                 str(tmp_path / "cdk.out")]) == 1
    assert not (tmp_path / "cdk.out").exists()
