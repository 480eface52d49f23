"""The JSON Schema and the field reference are generated from the models and committed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from deployer.spec.reference import render_reference
from deployer.spec.schema import agent_schema, schema_json

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_models() -> None:
    committed = (ROOT / "agent.schema.json").read_text()
    assert committed.strip() == schema_json().strip(), "regenerate: deployer schema -o agent.schema.json"


def test_readme_references_match_the_models_and_the_commands() -> None:
    # In a fresh process, as a person runs it: earlier tests must not shape the rendering.
    check = subprocess.run([sys.executable, "-m", "deployer.docs", "--check"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert check.returncode == 0, check.stderr


def test_schema_forbids_unknown_keys_for_editor_completion() -> None:
    schema = agent_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "code", "model", "actions", "environments"}
    for name, definition in schema["$defs"].items():
        if "properties" in definition:
            assert definition.get("additionalProperties") is False, name


def test_every_section_of_the_spec_is_in_the_reference() -> None:
    reference = render_reference()
    for section in ("CodeSpec", "ModelSpec", "MonitoringSpec", "SloSpec", "AlertSpec", "PagerDutyTarget", "StepsRollout",
                    "EnvironmentSpec", "LoadTestSpec", "BudgetSpec", "AbortSpec"):
        assert f"### {section}" in reference


def test_durations_are_described_as_seconds_or_units() -> None:
    schema = json.loads(schema_json())
    timeout = schema["$defs"]["RuntimeSpec"]["properties"]["timeout"]
    assert {"type": "number", "minimum": 0, "description": "seconds"} in timeout["anyOf"]
