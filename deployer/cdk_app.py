"""cdk.json's entry point: the app the CDK CLI runs (`python -m deployer.cdk_app`).

`cdk synth|diff|deploy -c env=staging -c stable_version=7`. Context: `spec` (default agent.yaml),
`env` (default every AWS environment of the spec), `stable_version` (the version the `live` alias
serves now, or `none` on the stack's first deployment). The CLI has already merged cdk.json's
context (the feature flags) into what the app reads; `deployer synth` applies the same
(`deployer.synth.project_context`), so both write the same template.

A Step Functions rollout leaves the alias on the served version and moves it itself: synthesized
without `stable_version`, the alias would point at the new version at once and the canary would be
skipped without a word, so the app refuses (message on stderr, exit status 1). `deployer deploy`
reads the served version itself. aws_cdk is imported by `main` only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.synth import (
    FIRST_DEPLOYMENT,
    SynthTarget,
    aws_models,
    bundle_targets,
    check_one_served_version,
    parse_stable_version,
    stepfunctions_models,
)

STABLE_VERSION = "stable_version"


def served_version(models: Sequence[DeploymentModel], value: object) -> str | None:
    """The `stable_version` context checked against `models`: None for a first deployment.

    Refused when a Step Functions environment is synthesized without it, when it is neither a
    version number nor `none`, and when it would apply to several Step Functions environments.
    """
    moving = stepfunctions_models(models)
    if value is None or str(value).strip() == "":
        if not moving:
            return None  # CodeDeploy shifts the traffic itself: the alias points at the new version
        raise missing_served_version(moving)
    stable = parse_stable_version(value, option=f"-c {STABLE_VERSION}=")
    check_one_served_version(models, given=f"-c {STABLE_VERSION}={value}", env_option="-c env=NAME")
    return stable


def missing_served_version(moving: Sequence[DeploymentModel]) -> DeployerError:
    one = moving[0]
    which = ", ".join(f"{m.agent} ({m.environment})" for m in moving)
    return DeployerError(
        f"{which} {'rolls' if len(moving) == 1 else 'roll'} out through Step Functions, which moves the "
        f"`{one.alias}` alias itself, and no "
        f"-c {STABLE_VERSION}=N says which version the alias serves now: without it the alias would point "
        "at the new version at once and the canary would be skipped",
        hint=f"pass -c {STABLE_VERSION}=N, the version the live alias serves now (`deployer status --env "
             f"{one.environment}`, or `aws lambda get-alias --function-name {one.function.name} --name "
             f"{one.alias} --query FunctionVersion`), or -c {STABLE_VERSION}={FIRST_DEPLOYMENT} for the very "
             "first deployment of the stack (the alias then starts on the new version: nothing served before); "
             f"`deployer deploy --env {one.environment}` reads it for you")


def targets_from_context(context: Callable[[str], Any], *, outdir: str) -> list[SynthTarget]:
    """Compile the spec, check the served version, then build the bundles next to `outdir`."""
    environment = context("env")
    models = aws_models(str(context("spec") or "agent.yaml"), [str(environment)] if environment else None)
    stable = served_version(models, context(STABLE_VERSION))
    return bundle_targets(models, out_dir=Path(outdir), stable_version=stable)


def main() -> None:  # pragma: no cover - run by the CDK CLI (tests run it in a subprocess)
    import aws_cdk as cdk

    from infra.app import add_stacks

    app = cdk.App(builtin_cloud_formation_validation=False)
    try:
        targets = targets_from_context(app.node.try_get_context, outdir=app.outdir)
    except DeployerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    add_stacks(app, targets)
    app.synth()


if __name__ == "__main__":  # pragma: no cover
    main()
