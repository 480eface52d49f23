"""Deploy one compiled environment to AWS, or show what a deployment would change.

`deploy_stack`: credentials check -> served version -> bundle -> synth (cdk-nag) -> publish
assets to the CDK bootstrap bucket -> change set -> execute -> wait -> outputs -> deploy record
-> start the Step Functions rollout (CodeDeploy rollouts run inside the stack update).
`diff_stack`: the same up to the change set, which is described and deleted, plus a template
diff against the deployed template. Library code: returns results, never prints.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer import naming
from deployer.aws.assets import publish, read_assets, template_asset
from deployer.aws.clients import AwsClients
from deployer.aws.cloudformation import Change
from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.synth import SynthResult, SynthTarget, build_bundles, synth

Clock = Callable[[], float]


@dataclass(frozen=True)
class DeployOptions:
    out_dir: Path = Path("cdk.out")
    poll_s: float = 5.0
    timeout_s: float = 3600.0
    role_arn: str | None = None  # CloudFormation service role (e.g. the CDK cfn-exec role)
    start_rollout: bool = True
    wait_rollout: bool = False
    bundle_dir: str | None = None  # a prebuilt bundle (tests); built from the model otherwise


@dataclass(frozen=True)
class Prepared:
    model: DeploymentModel
    stack: str
    account: str
    stable_version: str | None
    bundle_dir: str
    synth: SynthResult


@dataclass(frozen=True)
class DeployResult:
    stack: str
    status: str  # created | updated | unchanged
    outputs: dict[str, str]
    version: str | None
    stable_version: str | None
    changes: list[Change] = field(default_factory=list)
    rollout_execution: str | None = None
    rollout_status: str | None = None
    uploaded_assets: int = 0
    seconds: float = 0.0
    rollout_cause: str | None = None  # why a waited-for rollout did not succeed (the state machine's reason)


@dataclass(frozen=True)
class DiffResult:
    stack: str
    exists: bool
    changes: list[Change]  # from the change set
    template_changes: list[str]  # "+ Type Id", "- Type Id", "~ Type Id" against the deployed template


def prepare(model: DeploymentModel, clients: AwsClients, options: DeployOptions) -> Prepared:
    """Check the account, find the served version, build the bundle and synthesize."""
    if model.target != "aws":
        raise DeployerError(f"environment {model.environment} targets {model.target}, not AWS")
    account = clients.identity.account()
    if model.account and model.account != account:
        raise DeployerError(
            f"the credentials are for account {account}, but environment {model.environment} deploys to "
            f"{model.account}", hint="switch AWS_PROFILE to a role in the target account")
    model = dataclasses.replace(model, account=account)
    stable = None
    if model.rollout.engine == "stepfunctions":
        stable = clients.functions.alias_version(model.function.name, model.alias)
    bundle_dir = options.bundle_dir or build_bundles([model], options.out_dir.parent / ".deployer")[model.environment]
    result = synth([SynthTarget(model, bundle_dir, stable)], out_dir=options.out_dir)
    return Prepared(model, naming.stack_name(model), account, stable, bundle_dir, result)


def deploy_stack(model: DeploymentModel, *, clients: AwsClients, options: DeployOptions = DeployOptions(),
                 clock: Clock = time.monotonic) -> DeployResult:
    started = clock()
    prepared = prepare(model, clients, options)
    stack, stacks = prepared.stack, clients.stacks
    assets = read_assets(prepared.synth.out_dir, stack, account=prepared.account, region=model.region)
    uploaded = publish(clients.objects, assets)
    existing = stacks.describe(stack)
    if existing and existing["StackStatus"] == "ROLLBACK_COMPLETE":
        raise DeployerError(f"the stack {stack} failed its first creation and must be deleted before a new one",
                            hint=f"aws cloudformation delete-stack --stack-name {stack} --region {model.region}")
    create = existing is None or existing["StackStatus"] == "REVIEW_IN_PROGRESS"
    refuse_during_rollout(existing, clients)
    change_set = f"deployer-{int(time.time())}"
    stacks.create_change_set(stack, change_set, template_url=template_asset(assets, stack).url, create=create,
                             parameters={}, tags={"deployer:agent": model.agent,
                                                  "deployer:environment": model.environment},
                             role_arn=options.role_arn)
    has_changes, changes = stacks.wait_change_set(stack, change_set, timeout_s=600, poll_s=options.poll_s)
    if not has_changes:
        stacks.delete_change_set(stack, change_set)
        outputs = stacks.outputs(existing or {})
        return DeployResult(stack, "unchanged", outputs, outputs.get(naming.OUTPUT_FUNCTION_VERSION),
                            prepared.stable_version, uploaded_assets=uploaded, seconds=clock() - started)
    stacks.execute_change_set(stack, change_set)
    try:
        final = stacks.wait_stack(stack, timeout_s=options.timeout_s, poll_s=options.poll_s)
    except DeployerError as exc:
        if model.rollout.engine == "codedeploy" and not create and "ROLLBACK" in exc.message:
            raise DeployerError(exc.message, hint=(
                "if CodeDeploy stopped the canary (a gating alarm fired or the deployment failed), the previous "
                "version serves all traffic again; `deployer status` and `deployer errors` show why")) from exc
        raise
    template = json.loads(prepared.synth.templates[stack].read_text())
    outputs = complete_outputs(stacks.outputs(final), template, lambda: stacks.physical_ids(stack))
    version = outputs.get(naming.OUTPUT_FUNCTION_VERSION)
    if version:
        record_deploy(prepared, version, clients)
    execution, status, cause = start_rollout(prepared, version, outputs, clients, options)
    return DeployResult(stack, "created" if create else "updated", outputs, version, prepared.stable_version,
                        changes, execution, status, uploaded, clock() - started, cause)


def complete_outputs(outputs: dict[str, str], template: dict[str, Any],
                     physical_ids: Callable[[], dict[str, str]]) -> dict[str, str]:
    """The stack outputs; any missing one that is a `Ref` (or a version's `Version`) is read from the
    stack's resources instead (moto's change sets report no outputs)."""
    missing = {key: spec["Value"] for key, spec in template.get("Outputs", {}).items() if key not in outputs}
    if not missing:
        return outputs
    ids = physical_ids()
    completed = dict(outputs)
    for key, value in missing.items():
        if isinstance(value, dict) and "Ref" in value and value["Ref"] in ids:
            completed[key] = ids[value["Ref"]].split("|")[0]
        elif isinstance(value, dict) and value.get("Fn::GetAtt", [None, None])[1] == "Version":
            physical = ids.get(value["Fn::GetAtt"][0], "")
            if physical.rsplit(":", 1)[-1].isdigit():
                completed[key] = physical.rsplit(":", 1)[-1]
    return completed


def refuse_during_rollout(stack: dict[str, Any] | None, clients: AwsClients) -> None:
    """A Step Functions rollout in flight owns the alias: a new deploy would pull traffic from under it."""
    arn = clients.stacks.outputs(stack or {}).get(naming.OUTPUT_STATE_MACHINE_ARN)
    running = clients.state_machines.running(arn) if arn else []
    if running:
        raise DeployerError(f"a rollout is still running ({running[0]})",
                            hint="wait for it to finish, or roll back with `deployer rollback`, then deploy again")


def start_rollout(prepared: Prepared, version: str | None, outputs: dict[str, str], clients: AwsClients,
                  options: DeployOptions) -> tuple[str | None, str | None, str | None]:
    """Start the Step Functions rollout from the served version to the new one (if they differ):
    (execution, status, why it did not succeed)."""
    arn = outputs.get(naming.OUTPUT_STATE_MACHINE_ARN)
    stable = prepared.stable_version
    if not (options.start_rollout and arn and version and stable and stable != version):
        return None, None, None
    name = f"v{stable}-to-v{version}-{int(time.time())}"
    execution = clients.state_machines.start(arn, name, {"stable": stable, "candidate": version})
    if not options.wait_rollout:
        return execution, "RUNNING", None
    timeout = prepared.model.rollout.max_duration_s + 900
    done = clients.state_machines.wait(execution, timeout_s=timeout, poll_s=options.poll_s)
    status = str(done["status"])
    cause = None if status == "SUCCEEDED" else str(done.get("cause") or done.get("error") or status)
    return execution, status, cause


def record_deploy(prepared: Prepared, version: str, clients: AwsClients) -> None:
    """The deploy record in the request-log table (deployer.ops owns its shape)."""
    from deployer.bundle import bundle_hash
    from deployer.ops.records import deploy_record_item

    model = prepared.model
    item = deploy_record_item(model, version, bundle_hash(Path(prepared.bundle_dir)))
    clients.request_table(model.request_log.table_name).put(item)


def diff_stack(model: DeploymentModel, *, clients: AwsClients, options: DeployOptions = DeployOptions()) -> DiffResult:
    prepared = prepare(model, clients, options)
    stack, stacks = prepared.stack, clients.stacks
    new_template = json.loads(prepared.synth.templates[stack].read_text())
    existing = stacks.describe(stack)
    if existing is None or existing["StackStatus"] == "REVIEW_IN_PROGRESS":
        added = [f"+ {r['Type']} {key}" for key, r in sorted(new_template.get("Resources", {}).items())]
        return DiffResult(stack, False, [], added)
    assets = read_assets(prepared.synth.out_dir, stack, account=prepared.account, region=model.region)
    publish(clients.objects, assets)
    change_set = f"deployer-diff-{int(time.time())}"
    stacks.create_change_set(stack, change_set, template_url=template_asset(assets, stack).url, create=False,
                             parameters={}, tags={"deployer:agent": model.agent,
                                                  "deployer:environment": model.environment},
                             role_arn=options.role_arn)
    try:
        _, changes = stacks.wait_change_set(stack, change_set, timeout_s=600, poll_s=options.poll_s)
    finally:
        stacks.delete_change_set(stack, change_set)
    return DiffResult(stack, True, changes, template_diff(stacks.template(stack), new_template))


def template_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Resources added, removed or modified between two templates (by logical id)."""
    before, after = old.get("Resources", {}), new.get("Resources", {})
    lines = [f"+ {after[key]['Type']} {key}" for key in sorted(after.keys() - before.keys())]
    lines += [f"- {before[key]['Type']} {key}" for key in sorted(before.keys() - after.keys())]
    lines += [f"~ {after[key]['Type']} {key}" for key in sorted(after.keys() & before.keys())
              if json.dumps(after[key], sort_keys=True) != json.dumps(before[key], sort_keys=True)]
    for section in ("Outputs", "Parameters"):
        if json.dumps(old.get(section, {}), sort_keys=True) != json.dumps(new.get(section, {}), sort_keys=True):
            lines.append(f"~ {section}")
    return lines
