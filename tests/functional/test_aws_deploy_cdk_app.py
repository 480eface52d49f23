"""cdk.json's app runs the way the CDK CLI runs it (`cdk synth -c env=staging`), without the CLI.

The CLI starts `app` from cdk.json with the output directory in CDK_OUTDIR and the context in
CDK_CONTEXT_JSON; this does the same.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cdk_json_app_synthesizes_the_requested_environment(tmp_path: Path) -> None:
    app = json.loads((ROOT / "cdk.json").read_text())["app"]
    command = [sys.executable if part == "python" else part for part in shlex.split(app)]
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "cdk.out"), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
           "CDK_CONTEXT_JSON": json.dumps({"env": "staging", "spec": "agent.yaml"})}
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=300, capture_output=True)
    manifest = json.loads((tmp_path / "cdk.out" / "manifest.json").read_text())
    assert "support-router-staging" in manifest["artifacts"]
    template = json.loads((tmp_path / "cdk.out" / "support-router-staging.template.json").read_text())
    assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())
