"""Synthesize compiled models into a CDK cloud assembly (`cdk.out/`), in-process and offline.

`load -> compile -> bundle -> synth`: this module takes the compiled `DeploymentModel`s, builds
their Lambda bundles (`deployer.bundle`) and runs the CDK app of `infra/` with cdk-nag's
AwsSolutions checks. aws_cdk is imported only inside the functions that need it, so importing
this module stays cheap. Library code: nothing here prints or exits.

The app gets the context the CDK CLI would give it (`cdk_cli_context`): the `context` of the
project's cdk.json (its feature flags change templates: `@aws-cdk/aws-lambda:recognizeVersionProps`
decides the logical id, hence the publication, of every Lambda version) and the path and asset
metadata switches the CLI turns on. The project's cdk.json is the nearest one in the spec file's
directory or above it, so the flags follow the spec, wherever `deployer` runs. `deployer synth`,
`deployer deploy` and `cdk synth` thus write the same template (less the CLI's `AWS::CDK::Metadata`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError

DEFAULT_OUT_DIR = "cdk.out"
ACKNOWLEDGED_RULES = "aws:cdk:acknowledged-rules"  # aws_cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
CDK_JSON = "cdk.json"
#: Context keys of cdk.json that are arguments of its entry point (`deployer.cdk_app`), not settings of
#: the app: `deployer synth` takes them as options.
ENTRY_POINT_CONTEXT = ("spec", "env", "stable_version")
#: `--stable-version none` / `-c stable_version=none`: the stack's first deployment, nothing served before.
FIRST_DEPLOYMENT = "none"


@dataclass(frozen=True)
class SynthTarget:
    """One stack to synthesize: the compiled model, its built bundle and the served version.

    `stable_version` is the version the `live` alias serves before this deployment; only Step
    Functions rollouts use it (the alias stays there until the state machine shifts traffic). None
    is a first deployment: the alias starts on the new version. `stable_version_known` is False when
    nobody said (an offline `deployer synth`): the template is a first deployment's, with a warning.
    """

    model: DeploymentModel
    bundle_dir: str
    stable_version: str | None = None
    stable_version_known: bool = True


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
    from deployer.bundle import build_bundle

    root = Path(out_dir) / "bundles"
    return {m.environment: str(build_bundle(m, root)) for m in models}


def parse_stable_version(value: object, *, option: str = "--stable-version") -> str | None:
    """A served version as given by a person: a version number, or `none` for a first deployment (None)."""
    text = str(value).strip()
    if text.lower() == FIRST_DEPLOYMENT:
        return None
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise DeployerError(
            f"{option} {value!r}: expected the number of the version the `live` alias serves now, or "
            f"{FIRST_DEPLOYMENT!r} for the stack's first deployment",
            hint="`deployer status --env ENV` shows the served version")
    return str(int(text))


def stepfunctions_models(models: Sequence[DeploymentModel]) -> list[DeploymentModel]:
    """The models whose rollout engine moves the alias itself (and so needs the served version)."""
    return [m for m in models if m.rollout.engine == "stepfunctions"]


def check_one_served_version(models: Sequence[DeploymentModel], *, given: str, env_option: str) -> None:
    """A served version (`given`: how it was given) belongs to one environment: refuse several Step
    Functions environments in one synth, since each alias serves its own version."""
    moving = stepfunctions_models(models)
    if len(moving) > 1:
        raise DeployerError(
            f"{given} names the version one alias serves, but {', '.join(m.environment for m in moving)} all "
            "roll out through Step Functions, each alias with its own version",
            hint=f"synthesize one environment at a time ({env_option})")


def preview_targets(spec_path: str | Path, *, environment: str | None, out_dir: str | Path = DEFAULT_OUT_DIR,
                    stable_version: str | None = None) -> list[SynthTarget]:
    """The targets of `deployer synth` (an offline preview): `stable_version` as typed (`N` or `none`).

    Not given, a Step Functions environment is synthesized as on a first deployment, and `synth`
    warns that its alias points at the new version.
    """
    models = aws_models(spec_path, [environment] if environment else None)
    if stable_version is None:
        return bundle_targets(models, out_dir=out_dir, stable_version_known=False)
    stable = parse_stable_version(stable_version)
    check_one_served_version(models, given=f"--stable-version {stable_version}", env_option="--env NAME")
    return bundle_targets(models, out_dir=out_dir, stable_version=stable)


def bundle_targets(models: Sequence[DeploymentModel], *, out_dir: str | Path = DEFAULT_OUT_DIR,
                   stable_version: str | None = None, stable_version_known: bool = True) -> list[SynthTarget]:
    """Build the bundles of `models` (next to `out_dir`) and pair each with the served version."""
    bundles = build_bundles(models, Path(out_dir).parent / ".deployer")
    return [SynthTarget(m, bundles[m.environment], stable_version, stable_version_known) for m in models]


def find_cdk_json(spec_path: str | Path) -> Path | None:
    """The project's cdk.json: the nearest one in the spec file's directory or above it."""
    start = Path(spec_path).resolve().parent
    return next((d / CDK_JSON for d in (start, *start.parents) if (d / CDK_JSON).is_file()), None)


def cdk_cli_context(cdk_json: Path | None) -> dict[str, Any]:
    """The context the CDK CLI gives the app of `cdk_json` (None: none), less the entry point's arguments.

    That is cdk.json's `context` (feature flags) plus the switches the CLI sets from its settings
    (`pathMetadata`, `assetMetadata`: on unless cdk.json turns them off). The CLI's version reporting
    (the `AWS::CDK::Metadata` resource) stays off. cdk.context.json and ~/.cdk.json are not read:
    this app makes no context lookups.
    """
    settings: dict[str, Any] = {}
    if cdk_json is not None:
        try:
            settings = json.loads(cdk_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DeployerError(f"{cdk_json}: not readable as JSON ({exc})", hint="fix or remove the file") from None
        if not isinstance(settings, dict) or not isinstance(settings.get("context", {}), dict):
            raise DeployerError(f"{cdk_json}: expected an object whose `context` is an object",
                                hint='e.g. {"app": "python -m deployer.cdk_app", "context": {...}}')
    context = {k: v for k, v in (settings.get("context") or {}).items() if k not in ENTRY_POINT_CONTEXT}
    if settings.get("pathMetadata", True):
        context["aws:cdk:enable-path-metadata"] = True
    if settings.get("assetMetadata", True):
        context["aws:cdk:enable-asset-metadata"] = True
    return context


def project_context(targets: Sequence[SynthTarget]) -> dict[str, Any]:
    """The CDK CLI context of the targets' project (one app has one set of feature flags)."""
    found = sorted({path for t in targets if (path := find_cdk_json(t.model.spec_file)) is not None})
    contexts = {path: cdk_cli_context(path) for path in found}
    distinct = {json.dumps(c, sort_keys=True) for c in contexts.values()}
    if len(distinct) > 1:
        raise DeployerError(
            "the specs belong to projects whose cdk.json differ: " + ", ".join(str(p) for p in found),
            hint="synthesize each project on its own")
    return next(iter(contexts.values()), cdk_cli_context(None))


def first_deployment_warnings(targets: Sequence[SynthTarget]) -> tuple[str, ...]:
    """One warning per Step Functions target synthesized without knowing the served version."""
    return tuple(
        f"{t.model.agent} ({t.model.environment}) rolls out through Step Functions and no served version was "
        "given: the alias points at the new version in this template, as on a first deployment; for an update "
        "pass --stable-version N, or use `deployer deploy`, which reads it"
        for t in targets if not t.stable_version_known and t.model.rollout.engine == "stepfunctions")


def synth(targets: Sequence[SynthTarget], *, out_dir: str | Path = DEFAULT_OUT_DIR, nag: bool = True,
          cfn_validate: bool = False, context: Mapping[str, Any] | None = None) -> SynthResult:
    """Synthesize the stacks of `targets` into `out_dir` with cdk-nag; raise on any finding.

    `context` is the app's CDK context; by default the one the CDK CLI would give it
    (`project_context`). `cfn_validate` also runs CDK's built-in CloudFormation schema validation
    (about 3 s more, reports warnings only).
    """
    quiet_node_end_of_life_banner()
    from infra.app import build_app

    started = time.perf_counter()
    out = Path(out_dir).resolve()
    app, stacks = build_app(targets, outdir=str(out), nag=nag, cfn_validate=cfn_validate,
                            context=project_context(targets) if context is None else context)
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
    return SynthResult(out, templates, time.perf_counter() - started, acknowledged=len(acknowledgments(out)),
                       warnings=first_deployment_warnings(targets))


#: jsii's runtime prints a banner on stderr at every start under an end-of-life Node (Node 20 today),
#: which its Python side relays as bytes (`b'!!!!...'`), unless this lists that Node's major version.
NODE_BANNER_VARIABLE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"


def quiet_node_end_of_life_banner(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Silence jsii's end-of-life banner for the Node it will start, unless the user set the variable.

    Set before aws_cdk is first imported (that starts the jsii child, which inherits it); jsii reads
    a comma-separated list of major versions, so the value is this Node's major (from `node
    --version`, or `$JSII_NODE`'s). Returns the value set, None when nothing was changed.
    """
    env = os.environ if environ is None else environ
    if NODE_BANNER_VARIABLE in env:
        return None
    import shutil
    import subprocess

    node = env.get("JSII_NODE") or shutil.which("node", path=env.get("PATH"))
    if not node:
        return None  # jsii will say that Node is missing
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    major = version.strip().lstrip("v").split(".")[0]
    if not major.isdigit():
        return None
    env[NODE_BANNER_VARIABLE] = major
    return major


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
