"""The CDK app: one stack per compiled model plus cdk-nag, and the entry point of cdk.json.

`build_app` is what `deployer synth` and the tests use (in-process, offline). `main` is what the
CDK CLI runs through cdk.json (`cdk synth -c env=staging`): it loads and compiles the spec
(context `spec`, default agent.yaml; context `env`, default every AWS environment; context
`stable_version` for Step Functions rollouts), builds the bundles and synthesizes into the
directory the CLI gives.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from deployer.synth import SynthTarget
from infra.naming import stack_name
from infra.stack import AgentStack


def add_stacks(app: cdk.App, targets: Sequence[SynthTarget], *, nag: bool = True) -> dict[str, AgentStack]:
    """Add one `AgentStack` per target and, with `nag`, the AwsSolutions checks to the app."""
    stacks = {
        stack_name(t.model): AgentStack(app, stack_name(t.model), model=t.model, bundle_dir=t.bundle_dir,
                                        stable_version=t.stable_version)
        for t in targets
    }
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def build_app(targets: Sequence[SynthTarget], *, outdir: str, nag: bool = True,
              cfn_validate: bool = False) -> tuple[cdk.App, dict[str, AgentStack]]:
    """An app writing to `outdir`. CDK's built-in CloudFormation validation (a WASM engine that
    costs ~3 s on first use and only reports warnings) runs only with `cfn_validate`."""
    app = cdk.App(outdir=outdir, analytics_reporting=False, builtin_cloud_formation_validation=cfn_validate)
    return app, add_stacks(app, targets, nag=nag)


def main() -> None:  # pragma: no cover - run by the CDK CLI through cdk.json
    from deployer.synth import prepare_targets

    app = cdk.App(builtin_cloud_formation_validation=False)
    spec = str(app.node.try_get_context("spec") or "agent.yaml")
    environment = app.node.try_get_context("env")
    stable = app.node.try_get_context("stable_version")
    targets = prepare_targets(spec, environments=[str(environment)] if environment else None,
                              stable_version=str(stable) if stable else None)
    add_stacks(app, targets)
    app.synth()


if __name__ == "__main__":  # pragma: no cover
    main()
