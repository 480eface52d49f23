"""The CDK app: one stack per compiled model plus cdk-nag.

`build_app` is what `deployer synth`, `deployer deploy` and the tests use (in-process, offline);
`add_stacks` is what cdk.json's entry point (`deployer.cdk_app`) adds to the app the CDK CLI runs.
A target is anything with a compiled `model`, a built `bundle_dir` and the `stable_version` the
alias serves (`deployer.synth.SynthTarget`): this package imports nothing of `deployer` but the
compiled model and the errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from deployer.compiled import DeploymentModel
from deployer.naming import stack_name
from infra.stack import AgentStack


class StackTarget(Protocol):
    """One stack to add: the compiled model, its bundle directory and the served version (or None)."""

    @property
    def model(self) -> DeploymentModel: ...

    @property
    def bundle_dir(self) -> str: ...

    @property
    def stable_version(self) -> str | None: ...


def add_stacks(app: cdk.App, targets: Sequence[StackTarget], *, nag: bool = True) -> dict[str, AgentStack]:
    """Add one `AgentStack` per target and, with `nag`, the AwsSolutions checks to the app."""
    stacks = {
        stack_name(t.model): AgentStack(app, stack_name(t.model), model=t.model, bundle_dir=t.bundle_dir,
                                        stable_version=t.stable_version)
        for t in targets
    }
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def build_app(targets: Sequence[StackTarget], *, outdir: str, nag: bool = True, cfn_validate: bool = False,
              context: Mapping[str, Any] | None = None) -> tuple[cdk.App, dict[str, AgentStack]]:
    """An app writing to `outdir`, with `context` (the CDK CLI's, from `deployer.synth.project_context`).

    CDK's built-in CloudFormation validation (a WASM engine that costs ~3 s on first use and only
    reports warnings) runs only with `cfn_validate`.
    """
    app = cdk.App(outdir=outdir, analytics_reporting=False, builtin_cloud_formation_validation=cfn_validate,
                  context=dict(context or {}))
    return app, add_stacks(app, targets, nag=nag)
