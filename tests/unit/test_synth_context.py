"""What `deployer synth` takes from cdk.json, and how a served version is given (pure, no synth)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from deployer.cdk_app import served_version
from deployer.errors import DeployerError
from deployer.synth import (
    SynthTarget,
    cdk_cli_context,
    find_cdk_json,
    first_deployment_warnings,
    parse_stable_version,
    project_context,
)
from tests.infra.models import model

ROOT = Path(__file__).resolve().parents[2]
METADATA = {"aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}


def write_cdk_json(directory: Path, **settings: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cdk.json").write_text(json.dumps({"app": "python -m deployer.cdk_app", **settings}))
    return directory / "cdk.json"


def test_the_repository_cdk_json_gives_its_feature_flags_and_the_cli_metadata_switches() -> None:
    context = cdk_cli_context(find_cdk_json(ROOT / "agent.yaml"))
    assert context == {"@aws-cdk/core:checkSecretUsage": True, "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
                       "@aws-cdk/aws-lambda:recognizeVersionProps": True, **METADATA}


def test_the_nearest_cdk_json_at_or_above_the_spec_is_the_projects(tmp_path: Path) -> None:
    root = write_cdk_json(tmp_path)
    assert find_cdk_json(tmp_path / "samples" / "one" / "agent.yaml") == root
    nested = write_cdk_json(tmp_path / "samples" / "two")
    assert find_cdk_json(tmp_path / "samples" / "two" / "agent.yaml") == nested


def test_the_entry_point_arguments_stay_out_and_metadata_follows_the_cli_settings(tmp_path: Path) -> None:
    cdk_json = write_cdk_json(tmp_path, pathMetadata=False, context={
        "spec": "x.yaml", "env": "staging", "stable_version": "7", "@aws-cdk/core:flag": True})
    assert cdk_cli_context(cdk_json) == {"@aws-cdk/core:flag": True, "aws:cdk:enable-asset-metadata": True}
    assert cdk_cli_context(None) == METADATA  # no cdk.json: what the CLI does with --app and no settings


def test_a_cdk_json_that_is_not_an_object_of_context_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text('{"context": []}')
    with pytest.raises(DeployerError, match=r"cdk\.json"):
        cdk_cli_context(tmp_path / "cdk.json")
    (tmp_path / "cdk.json").write_text("{not json")
    with pytest.raises(DeployerError, match="not readable as JSON"):
        cdk_cli_context(tmp_path / "cdk.json")


def test_one_app_takes_one_projects_context(tmp_path: Path) -> None:
    write_cdk_json(tmp_path / "a", context={"@aws-cdk/core:flag": True})
    write_cdk_json(tmp_path / "b", context={"@aws-cdk/core:flag": False})
    a = SynthTarget(model(spec_file=str(tmp_path / "a" / "agent.yaml")), "bundle")
    b = SynthTarget(model(spec_file=str(tmp_path / "b" / "agent.yaml")), "bundle")
    assert project_context([a, a])["@aws-cdk/core:flag"] is True
    with pytest.raises(DeployerError, match=r"cdk\.json differ"):
        project_context([a, b])


@pytest.mark.parametrize("given,expected", [("7", "7"), (12, "12"), (" 3 ", "3"), ("none", None), ("NONE", None)])
def test_a_served_version_is_a_number_or_none_for_a_first_deployment(given: object, expected: str | None) -> None:
    assert parse_stable_version(given) == expected


@pytest.mark.parametrize("given", ["$LATEST", "latest", "0", "-1", "7.0", True, ""])
def test_anything_else_is_refused_with_what_to_pass(given: object) -> None:
    with pytest.raises(DeployerError, match="version the `live` alias serves now"):
        parse_stable_version(given)


def test_an_unknown_served_version_warns_for_step_functions_only() -> None:
    steps = SynthTarget(model(agent="steps"), "bundle", None, stable_version_known=False)
    canary = SynthTarget(model(agent="canary", engine="codedeploy"), "bundle", None, stable_version_known=False)
    first = SynthTarget(model(agent="first"), "bundle", None)
    [warning] = first_deployment_warnings([steps, canary, first])
    assert warning.startswith("steps (staging)")
    assert "the alias points at the new version in this template, as on a first deployment" in warning
    assert "--stable-version N" in warning and "deployer deploy" in warning


def test_the_cdk_app_refuses_step_functions_without_a_served_version() -> None:
    with pytest.raises(DeployerError) as refused:
        served_version([model()], None)
    message = str(refused.value)
    assert "-c stable_version=N" in message and "-c stable_version=none" in message
    assert "deployer status --env staging" in message
    assert "aws lambda get-alias --function-name demo-agent-staging --name live" in message
    with pytest.raises(DeployerError):
        served_version([model()], "")


def test_the_cdk_app_takes_a_version_or_none_and_needs_neither_for_codedeploy() -> None:
    assert served_version([model()], "7") == "7"
    assert served_version([model()], "none") is None
    assert served_version([model(engine="codedeploy")], None) is None
    with pytest.raises(DeployerError, match="-c stable_version="):
        served_version([model()], "latest")


def test_one_served_version_never_applies_to_two_step_functions_environments() -> None:
    staging, production = model(), dataclasses.replace(model(), environment="production")
    for value in ("7", "none"):
        with pytest.raises(DeployerError, match="staging, production") as refused:
            served_version([staging, production], value)
        assert "-c env=NAME" in str(refused.value)
    with pytest.raises(DeployerError, match=r"demo-agent \(staging\), demo-agent \(production\) roll out through Step Functions"):
        served_version([staging, production], None)
    assert served_version([staging, model(engine="codedeploy", environment="production")], "7") == "7"
