"""The whole app synthesizes with cdk-nag AwsSolutions: zero unacknowledged findings."""

from __future__ import annotations

import json

from tests.infra.conftest import Synthesized


def test_every_stack_synthesizes_with_no_unacknowledged_nag_finding(synthesized: Synthesized) -> None:
    report = json.loads((synthesized.result.out_dir / "validation-report.json").read_text()) \
        if (synthesized.result.out_dir / "validation-report.json").exists() else {"pluginReports": []}
    open_findings = [v for p in report["pluginReports"] for v in p.get("violations", [])]
    assert open_findings == []
    assert len(synthesized.result.templates) >= 5
