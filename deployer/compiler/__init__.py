"""Compile a validated spec into one `DeploymentModel` per environment.

Pure: no I/O, no AWS, no clock. Paths are resolved as strings against the spec's directory.
Every cross-field rule is checked here, and only here (the backends read the compiled model and
judge nothing), and all problems are reported at once, located in the spec file.
`compile_problems` is what the loader asks for when a spec has shape errors: the problems of the
sections that are sound.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import replace
from pathlib import PurePath

from deployer.compiled import (
    ActionModel,
    CodeModel,
    CostModel,
    DeploymentModel,
    FunctionModel,
    LoadProfile,
    MonitoringPolicy,
    Redaction,
    RequestLogModel,
    SloModel,
)
from deployer.compiler.alarms import compile_alarms
from deployer.compiler.evaluation import compile_evaluation
from deployer.compiler.model_config import model_config
from deployer.compiler.notifications import compile_notifications
from deployer.compiler.overrides import deep_merge, resolve_environment
from deployer.compiler.problems import Problems, did_you_mean
from deployer.compiler.rollout import compile_rollout
from deployer.errors import DeployerError, Issue, SpecError
from deployer.spec.loader import LoadedSpec
from deployer.spec.models import ActionSpec, AgentSpec, EnvironmentSpec, MonitoringSpec

__all__ = ["compile_all", "compile_environment", "compile_problems", "deep_merge", "resolve_environment"]

#: Fields of a monitoring policy an action may pin in the spec (`actions.NAME.monitoring`).
MONITOR_FIELDS = ("log_inputs", "log_outputs", "log_latency", "log_errors", "sample_rate")
#: Redaction that always applies, whatever the spec's list says: credentials are never logged.
CREDENTIAL_REDACTION = ("aws_key", "bearer_token", "api_key")


def compile_environment(loaded: LoadedSpec, environment: str) -> DeploymentModel:
    """The deployment model of one environment. Raises `SpecError` with every problem."""
    model, problems = _compile(loaded, environment)
    if problems or model is None:
        raise SpecError(problems)
    return model


def compile_all(loaded: LoadedSpec) -> dict[str, DeploymentModel]:
    """Compile every environment, reporting the problems of all of them together."""
    models: dict[str, DeploymentModel] = {}
    issues: list[Issue] = []
    for name in loaded.spec.environments:
        model, problems = _compile(loaded, name)
        issues.extend(problems)
        if model is not None:
            models[name] = model
    if issues:
        raise SpecError(list(dict.fromkeys(issues)))
    return models


def compile_problems(loaded: LoadedSpec) -> list[Issue]:
    """Every environment's compile errors (none of the parts in `loaded.unsound`), for reporting only."""
    issues: list[Issue] = []
    for name in loaded.spec.environments:
        issues.extend(_compile(loaded, name)[1])
    return list(dict.fromkeys(issues))


def _compile(loaded: LoadedSpec, environment: str) -> tuple[DeploymentModel | None, list[Issue]]:
    if environment not in loaded.spec.environments:
        known = list(loaded.spec.environments)
        guess = did_you_mean(environment, known, cutoff=0.5)
        raise DeployerError(f"no environment {environment!r} in {loaded.origin.file} (defined: {', '.join(known)}){guess}",
                            hint="pass --env with one of the names under environments:")
    spec, issues, unsound = resolve_environment(loaded, environment)
    env = spec.environments[environment]
    problems = Problems(loaded.origin.source, environment, unsound)
    base = str(loaded.origin.directory)
    prefix = f"{spec.name}-{environment}"

    function = _function(spec, env, environment)
    actions = _actions(spec, env, environment, function, problems)
    alarms = compile_alarms(spec, problems)
    evaluation, quality = compile_evaluation(spec, base, env.region, problems)
    rollout = compile_rollout(spec, env, alarms, prefix, problems, quality=quality)
    cost = _cost(spec, env, environment, problems)
    load = _load_profile(spec, env, environment, base, problems)
    notifications = compile_notifications(spec, env, prefix, problems)
    code_root = _code_root(spec, base, problems)
    module, class_name = spec.code.entrypoint.split(":")
    if issues or problems.errors:
        return None, [*issues, *problems.errors]

    model = DeploymentModel(
        agent=spec.name,
        description=spec.description,
        environment=environment,
        target=env.target,
        region=env.region,
        account=env.account,
        spec_file=loaded.origin.file,
        spec_hash="",
        code=CodeModel(code_root, module, class_name, tuple(spec.code.artifacts), tuple(spec.code.requirements)),
        function=function,
        alias="live",
        model=model_config(spec.model, env.region),
        actions=actions,
        monitoring=_monitoring(spec.monitoring),
        slos=SloModel(**spec.slos.model_dump()),
        alarms=tuple(alarms),
        notifications=tuple(notifications),
        rollout=rollout,
        request_log=RequestLogModel(f"{prefix}-requests", spec.monitoring.record_ttl_days),
        cost=cost,
        load=load,
        evaluation=evaluation,
        warnings=tuple(str(w) for w in problems.warnings),
    )
    return _with_hash(model, base), []


def _function(spec: AgentSpec, env: EnvironmentSpec, environment: str) -> FunctionModel:
    actions = [a or ActionSpec() for a in spec.actions.values()]
    memory = max([env.memory_mb or spec.runtime.memory_mb, *(a.memory_mb or 0 for a in actions)])
    return FunctionModel(
        name=f"{spec.name}-{environment}",
        python=spec.runtime.python,
        architecture=spec.runtime.architecture,
        memory_mb=memory,
        timeout_s=int(env.timeout or spec.runtime.timeout),
        reserved_concurrency=env.reserved_concurrency,
        provisioned_concurrency=env.provisioned_concurrency,
        tracing=spec.runtime.tracing,
        log_retention_days=spec.monitoring.log_retention_days,
        environment={"DEPLOYER_AGENT": spec.name, "DEPLOYER_ENVIRONMENT": environment},
    )


def _actions(spec: AgentSpec, env: EnvironmentSpec, environment: str, function: FunctionModel,
             problems: Problems) -> tuple[ActionModel, ...]:
    out = []
    for name, given in spec.actions.items():
        action = given or ActionSpec()
        timeout = action.timeout or float(function.timeout_s)
        if timeout > function.timeout_s:
            setting = f"environments.{environment}.timeout" if env.timeout else "runtime.timeout"
            problems.error(("actions", name, "timeout"), f"{timeout:g}s is longer than the function timeout ({function.timeout_s}s, "
                                                         f"{setting}); the function would be stopped first: shorten this or raise {setting}",
                           reads=("runtime", "environment"))
        pinned = action.monitoring.model_dump(exclude_none=True) if action.monitoring else {}
        monitoring = spec.monitoring.model_copy(update=pinned)
        out.append(ActionModel(
            name=name,
            timeout_s=timeout,
            memory_mb=function.memory_mb,
            side_effects=action.side_effects,
            max_payload_bytes=(action.max_payload_kb or spec.runtime.max_payload_kb) * 1024,
            monitoring=_monitoring(monitoring),
            description=action.description,
            monitoring_pinned=tuple(f for f in MONITOR_FIELDS if f in pinned),
        ))
    return tuple(out)


def _code_root(spec: AgentSpec, base: str, problems: Problems) -> str:
    """code.path resolved against the spec's directory. A relative path may not climb out of the
    project with `..` (the code would come from whatever sits beside the checkout); an absolute
    path is taken as written."""
    root = posixpath.normpath(posixpath.join(base, spec.code.path))
    if not posixpath.isabs(spec.code.path) and root != base and not root.startswith(base.rstrip("/") + "/"):
        problems.error(("code", "path"), f"{spec.code.path!r} leads out of the project (the directory of "
                                         f"{problems.source.file}): code.path is relative to it and may not climb out "
                                         "with '..'; move the code into the project and give a path such as src/my_agent")
    return root


def _monitoring(spec: MonitoringSpec) -> MonitoringPolicy:
    listed = [r for r in spec.redaction if isinstance(r, str)]
    builtins = tuple(dict.fromkeys([*listed, *CREDENTIAL_REDACTION]))
    patterns = tuple((r.name, r.pattern) for r in spec.redaction if not isinstance(r, str))
    return MonitoringPolicy(spec.log_inputs, spec.log_outputs, spec.log_latency, spec.log_errors,
                            spec.sample_rate, Redaction(builtins, patterns))


def _cost(spec: AgentSpec, env: EnvironmentSpec, environment: str, problems: Problems) -> CostModel:
    monthly = env.expected_traffic.per_month() if env.expected_traffic else 0.0
    per_request = spec.slos.cost_per_request_usd
    projected = monthly * per_request if per_request is not None else None
    budget = spec.budget.monthly_usd if spec.budget else None
    if budget is not None and projected is not None and projected > budget:
        problems.warn(("budget", "monthly_usd"), f"{environment}: expected traffic ({monthly:,.0f} requests/month) x cost SLO "
                                                 f"(${per_request:g}/request) = ${projected:,.2f}/month, over the ${budget:,.2f} budget",
                      reads=("slos", "environment"))
    return CostModel(budget, monthly, projected)


def _load_profile(spec: AgentSpec, env: EnvironmentSpec, environment: str, base: str, problems: Problems) -> LoadProfile:
    profile = env.load_test
    first_action = next(iter(spec.actions))
    if profile is None:
        return LoadProfile(10, 30, 10, None, "uniform", None, first_action, ())
    action = profile.action or first_action
    if action not in spec.actions:
        guess = did_you_mean(action, spec.actions)
        problems.error(("environments", environment, "load_test", "action"),
                       f"names action {action!r}, which is not defined under actions (defined: {', '.join(spec.actions)}){guess}",
                       reads=("actions",))
    input_file = posixpath.normpath(posixpath.join(base, profile.input_file)) if profile.input_file else None
    return LoadProfile(profile.rps, int(profile.duration), profile.users, input_file, profile.distribution,
                       profile.weight_field, action, tuple(profile.concurrency))


def _with_hash(model: DeploymentModel, base: str) -> DeploymentModel:
    """Hash everything that shapes the deployment, independent of where the checkout lives."""
    data = model.to_dict()
    for key in ("spec_hash", "spec_file", "warnings"):
        data.pop(key)
    data["code"]["root"] = _relative(data["code"]["root"], base)
    if data["load"]["input_file"]:
        data["load"]["input_file"] = _relative(data["load"]["input_file"], base)
    if data.get("evaluation"):
        data["evaluation"]["data_file"] = _relative(data["evaluation"]["data_file"], base)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    return replace(model, spec_hash=digest)


def _relative(path: str, base: str) -> str:
    return str(PurePath(posixpath.relpath(path, base)))
