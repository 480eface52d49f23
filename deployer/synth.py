"""Synthesize compiled models into a CDK cloud assembly (`cdk.out/`), in-process and offline.

`load -> compile -> bundle -> synth`: this module takes the compiled `DeploymentModel`s, builds
their Lambda bundles (`deployer.bundle`) and runs the CDK app of `infra/` with cdk-nag's
AwsSolutions checks. aws_cdk is imported only inside the functions that need it, so importing
this module stays cheap. Library code: nothing here prints or exits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError

DEFAULT_OUT_DIR = "cdk.out"
ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"  # aws_cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY


@dataclass(frozen=True)
class SynthTarget:
    """One stack to synthesize: the compiled model, its built bundle and the served version.

    `stable_version` is the version the `live` alias serves before this deployment; only Step
    Functions rollouts use it (the alias stays there until the state machine shifts traffic).
    """

    model: DeploymentModel
    bundle_dir: str
    stable_version: str | None = None


@dataclass(frozen=True)
class SynthResult:
    out_dir: Path
    templates: dict[str, Path]  # stack name -> template file
    seconds: float
    acknowledged: int = 0  # cdk-nag findings acknowledged (each with a reason in the code)
    warnings: tuple[str, ...] = field(default=())


def aws_models(spec_path: str | Path, environments: Sequence[str] | None = None) -> list[DeploymentModel]:
    """Load and compile the spec; the given environments, or every AWS-targeted one."""
    from deployer.compiler import compile_environment
    from deployer.spec.loader import load_spec

    loaded = load_spec(spec_path)
    names = list(environments) if environments else list(loaded.spec.environments)
    models = [compile_environment(loaded, name) for name in names]
    if environments:
        local = [m.environment for m in models if m.target != "aws"]
        if local:
            raise DeployerError(
                f"environment {local[0]!r} targets the local emulator, not AWS: there is nothing to synthesize",
                hint=f"run `deployer deploy --env {local[0]}` to start it locally, or pick an AWS environment",
            )
    models = [m for m in models if m.target == "aws"]
    if not models:
        raise DeployerError(f"{spec_path}: no environment targets AWS",
                            hint="add an environment without `target: local`")
    return models


def build_bundles(models: Sequence[DeploymentModel], out_dir: str | Path) -> dict[str, str]:
    """Build each model's Lambda bundle under `<out_dir>/bundles`; environment -> bundle directory."""
    try:
        from deployer.bundle import build_bundle
    except ModuleNotFoundError as exc:  # pragma: no cover - the bundle area ships with the repo
        raise DeployerError("the bundle builder is not available") from exc
    root = Path(out_dir) / "bundles"
    return {m.environment: str(build_bundle(m, root)) for m in models}


def prepare_targets(spec_path: str | Path, *, environments: Sequence[str] | None = None,
                    out_dir: str | Path = DEFAULT_OUT_DIR,
                    stable_version: str | None = None) -> list[SynthTarget]:
    models = aws_models(spec_path, environments)
    bundles = build_bundles(models, Path(out_dir).parent / ".deployer")
    return [SynthTarget(m, bundles[m.environment], stable_version) for m in models]


def synth(targets: Sequence[SynthTarget], *, out_dir: str | Path = DEFAULT_OUT_DIR, nag: bool = True,
          cfn_validate: bool = False) -> SynthResult:
    """Synthesize the stacks of `targets` into `out_dir` with cdk-nag; raise on any finding.

    `cfn_validate` also runs CDK's built-in CloudFormation schema validation (about 3 s more,
    reports warnings only).
    """
    from infra.app import build_app

    started = time.perf_counter()
    out = Path(out_dir).resolve()
    app, stacks = build_app(targets, outdir=str(out), nag=nag, cfn_validate=cfn_validate)
    try:
        app.synth()
    except RuntimeError as exc:
        if "ValidationFailed" not in str(exc):
            raise
        raise DeployerError(
            "cdk-nag found unacknowledged findings:\n" + "\n".join(nag_findings(out)),
            hint=f"fix them, or acknowledge each one with a reason (report: {out / 'validation-report.json'})",
        ) from None
    templates = {name: out / stack.template_file for name, stack in stacks.items()}
    return SynthResult(out, templates, time.perf_counter() - started, acknowledged=len(acknowledgments(out)))


def nag_findings(out_dir: Path) -> list[str]:
    """`rule at construct path` lines from the validation report of a failed synth."""
    report_file = out_dir / "validation-report.json"
    if not report_file.exists():
        return ["(no validation report was written)"]
    report = json.loads(report_file.read_text())
    lines = []
    for plugin in report.get("pluginReports", []):
        for violation in plugin.get("violations", []):
            for construct in violation.get("violatingConstructs", []):
                lines.append(f"  {violation['ruleName']} at {construct.get('constructPath')}: "
                             f"{violation.get('description', '')}")
    return lines or ["(the report lists no violation)"]


def acknowledgments(out_dir: Path) -> list[tuple[str, str, str]]:
    """(construct path, rule, reason) of every acknowledged cdk-nag rule in the assembly."""
    found = []
    for metadata_file in sorted(out_dir.glob("*.metadata.json")):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry.get("type") == ACKNOWLEDGED_RULES:
                    found += [(path, rule.removeprefix("Annotation::"), reason)
                              for rule, reason in entry.get("data", {}).items()]
    return found
