"""The CDK app: stacks for compiled models plus cdk-nag, and the entry point of cdk.json.

`build_app` is what `deployer synth` and the tests use (in-process, offline). `main` is what the
CDK CLI runs through cdk.json (`cdk synth -c env=staging`): it loads and compiles the spec
(context `spec`, default agent.yaml; context `env`, default every AWS environment), builds the
bundles and synthesizes into the directory the CLI gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from deployer.compiled import DeploymentModel
from infra.naming import stack_name
from infra.stack import AgentStack


@dataclass(frozen=True)
class StackInput:
    """What one stack is built from: the compiled model and its built bundle."""

    model: DeploymentModel
    bundle_dir: str
    stable_version: str | None = None


def add_stacks(app: cdk.App, inputs: Sequence[StackInput], *, nag: bool = True) -> dict[str, AgentStack]:
    stacks = {
        stack_name(item.model): AgentStack(app, stack_name(item.model), model=item.model,
                                           bundle_dir=item.bundle_dir, stable_version=item.stable_version)
        for item in inputs
    }
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks


def build_app(inputs: Sequence[StackInput], *, outdir: str, nag: bool = True) -> tuple[cdk.App, dict[str, AgentStack]]:
    app = cdk.App(outdir=outdir, analytics_reporting=False)
    return app, add_stacks(app, inputs, nag=nag)


def main() -> None:  # pragma: no cover - exercised by the CDK CLI
    from deployer.synth import prepare_inputs

    app = cdk.App()
    spec = str(app.node.try_get_context("spec") or "agent.yaml")
    environment = app.node.try_get_context("env")
    stable = app.node.try_get_context("stable_version")
    inputs = prepare_inputs(spec, environments=[environment] if environment else None,
                            stable_version=str(stable) if stable else None)
    add_stacks(app, inputs)
    app.synth()


if __name__ == "__main__":  # pragma: no cover
    main()
