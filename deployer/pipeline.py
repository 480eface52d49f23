"""The library API for people who script in Python: a `Pipeline` over one agent spec.

    from deployer.pipeline import Pipeline

    pipeline = Pipeline.from_spec("agent.yaml")
    pipeline.deploy("local")                                  # into the running emulator
    result = pipeline.run_load_test("local", rps=20, duration_s=10)
    pipeline.rollout("local")                                 # progress of the rollout
    failures = pipeline.inspect_errors("local", limit=100)    # newest first
    pipeline.replay_request("local", request_id=failures[0].request_id)
    pipeline.debug("local")                                   # what changed
    pipeline.rollback("local", reason="bad canary")

Each method is a thin call into the same code the CLI uses (`deployer.ops`, `deployer.local`,
`deployer.loadtest`, `deployer.invoke`) and returns its result object rather than printing.
A local environment is reached through the emulator started by `deployer local up`, or through
an `Emulator` passed in (`Pipeline(spec, emulator=emu)`), which is how tests and notebooks run
the whole story in one process.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError

if TYPE_CHECKING:
    from deployer.invoke import Invocation
    from deployer.loadtest.session import LoadTestResult
    from deployer.local import Emulator
    from deployer.ops.logs import LogLine
    from deployer.ops.records import RequestRecord
    from deployer.ops.replay import Against, BatchReplay, InvokeResult, ReplayResult
    from deployer.ops.target import OpsTarget
    from deployer.spec.loader import LoadedSpec


class Pipeline:
    """One agent spec, every stage: deploy, load test, rollout, errors, replay, debug, rollback."""

    def __init__(self, spec_path: str | os.PathLike[str] = "agent.yaml", *, emulator: Emulator | None = None) -> None:
        self.spec_path = Path(spec_path)
        self.emulator = emulator
        self._loaded: LoadedSpec | None = None
        self._models: dict[str, DeploymentModel] = {}

    @classmethod
    def from_spec(cls, spec_path: str | os.PathLike[str] = "agent.yaml", *, emulator: Emulator | None = None) -> Pipeline:
        return cls(spec_path, emulator=emulator)

    def __repr__(self) -> str:
        return f"Pipeline({str(self.spec_path)!r})"

    # -- the spec ---------------------------------------------------------------------------------
    @property
    def environments(self) -> list[str]:
        return list(self._spec().spec.environments)

    def _spec(self) -> LoadedSpec:
        if self._loaded is None:
            from deployer.spec import load_spec

            self._loaded = load_spec(self.spec_path)
        return self._loaded

    def model(self, env: str) -> DeploymentModel:
        """The compiled model of one environment (what `deployer plan --env ENV` shows)."""
        if env not in self._models:
            from deployer.compiler import compile_environment

            self._models[env] = compile_environment(self._spec(), env)
        return self._models[env]

    def target(self, env: str) -> OpsTarget:
        """Where the environment runs: the attached or running emulator, or AWS."""
        from deployer.ops.target import resolve_target, target_from_endpoints

        model = self.model(env)
        if model.target == "local" and self.emulator is not None:
            return target_from_endpoints(model, self.emulator.endpoints())
        return resolve_target(model, spec_path=self.spec_path)

    # -- stages 2 and 3 ---------------------------------------------------------------------------
    def deploy(self, env: str, *, faults: dict[str, float] | None = None, wait: bool = False,
               description: str = "") -> dict[str, Any]:
        """Publish a new version when code or configuration changed, and start its rollout.

        Local: the attached (or running) emulator. AWS: synth, change-set deploy of the stack and the
        rollout (`deployer.aws.deploy.deploy_stack`, what `deployer deploy` runs); `faults` are local only.
        """
        model = self.model(env)
        if model.target == "local":
            if self.emulator is not None:
                from deployer.local import Faults

                known = {k: v for k, v in (faults or {}).items() if v is not None}
                result = self.emulator.deploy(model, faults=Faults(**known), wait=wait,  # type: ignore[arg-type]
                                              description=description)
                return {"version": result.version, "created": result.created, "message": result.message,
                        "rollout": result.rollout}
            from deployer.local.front.deploy import deploy_local

            return deploy_local(model, spec_path=self.spec_path, faults=faults, wait=wait, description=description)
        from deployer.aws.clients import AwsClients
        from deployer.aws.deploy import DeployOptions, deploy_stack

        clients = AwsClients.for_region(model.region, endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
        done = deploy_stack(model, clients=clients, options=DeployOptions(wait_rollout=wait))
        return {"version": done.version, "created": done.status != "unchanged", "message": done.status,
                "stack": done.stack, "stable_version": done.stable_version, "outputs": done.outputs,
                "rollout": {"execution": done.rollout_execution, "status": done.rollout_status}
                if done.rollout_execution else None}

    def run_load_test(self, env: str, *, rps: float | None = None, duration_s: float | None = None,
                      users: int | None = None, input_file: str | None = None, report_dir: str | None = None,
                      target_url: str | None = None, write_report: bool = True) -> LoadTestResult:
        """Hold `rps` for `duration_s` against the environment and judge it against its SLOs."""
        from deployer.loadtest.plan import Overrides, resolve_plan
        from deployer.loadtest.session import run_load_test

        model = self.model(env)
        iam_auth: bool | None = None
        if target_url is None:
            if model.target == "local":
                target_url = self.target(env).gateway_url
            else:
                from deployer.loadtest.target import function_url

                resolved = function_url(model)
                target_url, iam_auth = resolved.url, resolved.iam_auth
        overrides = Overrides(rps=rps, duration_s=duration_s, users=users, input_file=input_file, report_dir=report_dir)
        plan = resolve_plan(model, overrides, target_url=target_url, iam_auth=iam_auth)
        result = run_load_test(plan)
        if write_report:
            from deployer.loadtest.report import write_report as write

            write(result)
        return result

    def rollout(self, env: str) -> dict[str, Any] | None:
        """The current (or last) rollout: version, step, percent, status; None when there is none."""
        from deployer.ops.rollout import rollout_status

        if self.emulator is not None and self.model(env).target == "local":
            return self.emulator.rollout()
        return rollout_status(self.target(env))

    def status(self, env: str) -> dict[str, Any]:
        """Versions and weights of the live alias, and the alarm states."""
        from deployer.ops.debug import _alarms
        from deployer.ops.replay import alias_routing

        target = self.target(env)
        primary, additional = alias_routing(target)
        return {"primary": primary, "additional": additional, "rollout": self.rollout(env), "alarms": _alarms(target)}

    # -- incident response ------------------------------------------------------------------------
    def inspect_errors(self, env: str, *, limit: int = 100, since: str | float | None = None,
                       version: str | None = None) -> list[RequestRecord]:
        """The last failed requests, newest first."""
        from deployer.ops.records import list_errors, parse_since

        target = self.target(env)
        return list_errors(target.requests(), ttl_days=target.model.request_log.ttl_days, since_s=parse_since(since),
                           version=version, limit=limit)

    def replay_request(self, env: str, *, request_id: str, version: str | None = None, against: Against | None = None,
                       allow_side_effects: bool = False) -> ReplayResult:
        """Run a recorded request's input again against a version (default: the stable one)."""
        from deployer.ops.replay import replay_request

        return replay_request(self.target(env), request_id, version=version, against=against,
                              allow_side_effects=allow_side_effects)

    def replay_last(self, env: str, last: int, *, errors_only: bool = True, version: str | None = None,
                    against: Against | None = None, allow_side_effects: bool = False) -> BatchReplay:
        """Replay the last `last` (failed) requests and summarise: now succeed, fail, changed."""
        from deployer.ops.replay import replay_batch

        return replay_batch(self.target(env), last, errors_only=errors_only, version=version, against=against,
                            allow_side_effects=allow_side_effects)

    def debug(self, env: str, *, window_s: float = 86400.0) -> dict[str, Any]:
        """What changed: weights, rollout, alarms, and the live version against the one before."""
        from deployer.ops.debug import what_changed

        return what_changed(self.target(env), window_s=window_s)

    def logs(self, env: str, *filters: str, since_s: float = 3600.0, limit: int = 100) -> list[LogLine]:
        """The structured request lines (`key=value` or text filters)."""
        from deployer.ops.logs import LogFilter, read_logs

        return read_logs(self.target(env), LogFilter.parse(list(filters)), since_s=since_s, limit=limit)

    def rollback(self, env: str, to: str | None = None, *, reason: str = "manual rollback",
                 who: str | None = None) -> dict[str, Any]:
        """All traffic back to the stable (or `to`) version now, stopping any rollout; recorded with who and why."""
        from deployer.ops.records import current_user

        model = self.model(env)
        if model.target == "local":
            if self.emulator is not None:
                return self.emulator.rollback(reason=reason, to_version=to, who=who or current_user())
            client = self.target(env).emulator()
            if client is None:
                raise DeployerError("the emulator's control API is not known", hint="restart `deployer local up`")
            return client.rollback(reason=reason, to_version=to, who=who or current_user())
        from deployer.ops.rollback import rollback_aws

        return rollback_aws(self.target(env), to=to, reason=reason, who=who)

    def alerts(self, env: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """Recent notifications (local: the emulator's deliveries; AWS: alarm history)."""
        model = self.model(env)
        if model.target == "local":
            if self.emulator is not None:
                return list(self.emulator.alerts(limit))
            client = self.target(env).emulator()
            return client.alerts(limit) if client is not None else []
        from deployer.ops.rollback import alert_history_aws

        return alert_history_aws(self.target(env), limit=limit)

    # -- stage 1 ----------------------------------------------------------------------------------
    def invoke(self, action: str, data: Any = None, env: str | None = None) -> Invocation | InvokeResult:
        """One request. Without `env`: in this process through the Lambda runtime (stage 1, an
        `Invocation`); with `env`: through the environment (the emulator's gateway, or the live
        alias in AWS), an `InvokeResult`.
        """
        if env is None:
            from deployer.invoke import invoke

            local = next((name for name in self.environments if self.model(name).target == "local"), None)
            model = self.model(local or self.environments[0])
            return invoke(model, action, data)
        from deployer.ops.replay import invoker_for

        return invoker_for(self.target(env))(action, {} if data is None else data, version=None, replay=False)
