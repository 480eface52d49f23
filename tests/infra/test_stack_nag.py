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


def test_every_acknowledgment_names_a_rule_and_gives_a_reason(synthesized: Synthesized) -> None:
    from deployer.synth import acknowledgments

    found = acknowledgments(synthesized.result.out_dir)
    assert synthesized.result.acknowledged == len(found) > 0
    for path, rule, reason in found:
        assert rule.startswith("AwsSolutions-"), path
        assert len(reason) > 60, (path, rule)
    rules = {rule for _, rule, _ in found}
    assert rules <= {"AwsSolutions-L1", "AwsSolutions-IAM5", "AwsSolutions-IAM5[Resource::*]", "AwsSolutions-SQS3",
                     "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                     "AWSCodeDeployRoleForLambdaLimited]"}
