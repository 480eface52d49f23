"""The library API for people who script in Python: a `Pipeline` over one agent spec.

    from deployer.pipeline import LoadTest, Pipeline

    pipeline = Pipeline("agent.yaml")                         # or Pipeline(MyAgent): its agent.yaml
    pipeline.deploy("local")                                  # into the running emulator
    result = pipeline.run_load_test(LoadTest(requests_per_second=20, duration_seconds=10))
    pipeline.rollout("local")                                 # progress of the rollout
    failures = pipeline.inspect_errors(limit=100)             # newest first
    pipeline.replay_request(request_id=failures[0].request_id)
    pipeline.debug("local")                                   # what changed
    pipeline.rollback("local", reason="bad canary")

A facade: each method resolves the environment (`deployer.environments`) and calls the one
function the CLI calls for the same behaviour (`deployer.ops.*`, `deployer.loadtest`,
`deployer.invoke`), returning its result instead of printing. Where the environment is left out,
it is the one running (the emulator's, or the one this pipeline deployed) when that is one
environment. A local environment is reached through the emulator `deployer local up` runs, or an
`Emulator` attached here (`Pipeline(spec, emulator=emu)`), which is how tests and notebooks run
the whole story in one process. Policy (rollout, alerts, SLOs) lives in agent.yaml: the keywords
that would set it here raise an error naming the keys (`deployer.pipeline_args`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from deployer.compiled import DeploymentModel
from deployer.environments import Environment, Project
from deployer.pipeline_args import (
    LoadTest,
    alerts_policy_error,
    monitor_policy_error,
    rollout_policy_error,
    spec_path_of,
)

if TYPE_CHECKING:
    from deployer.invoke import Invocation
    from deployer.loadtest.session import LoadTestResult
    from deployer.local import Emulator
    from deployer.ops.logs import LogLine
    from deployer.ops.records import RequestRecord
    from deployer.ops.replay import Against, BatchReplay, InvokeResult, ReplayResult
    from deployer.ops.target import OpsTarget

__all__ = ["LoadTest", "Pipeline"]


class Pipeline:
    """One agent spec, every stage: deploy, load test, rollout, errors, replay, debug, rollback."""

    def __init__(self, spec: str | os.PathLike[str] | Any = "agent.yaml", *, emulator: Emulator | None = None) -> None:
        self.spec_path = spec_path_of(spec)
        self.project = Project(self.spec_path, emulator=emulator)
        self._deployed: list[str] = []

    @classmethod
    def from_spec(cls, spec_path: str | os.PathLike[str] = "agent.yaml", *, emulator: Emulator | None = None) -> Pipeline:
        return cls(spec_path, emulator=emulator)

    def __repr__(self) -> str:
        return f"Pipeline({str(self.spec_path)!r})"

    @property
    def emulator(self) -> Emulator | None:
        return self.project.emulator  # type: ignore[no-any-return]

    @emulator.setter
    def emulator(self, value: Emulator | None) -> None:
        self.project.emulator = value

    # -- the spec ---------------------------------------------------------------------------------
    @property
    def environments(self) -> list[str]:
        return self.project.environments

    def model(self, env: str) -> DeploymentModel:
        """The compiled model of one environment (what `deployer plan --env ENV` shows)."""
        return self.project.model(env)

    def environment(self, env: str | None = None) -> Environment:
        """One environment; None: the one running (an emulator's, or the one deployed here), else the default."""
        return self.project.environment(env, also_running=self._deployed[-1:])

    def target(self, env: str | None = None) -> OpsTarget:
        """Where the environment runs: the attached or running emulator, or AWS."""
        return self.environment(env).target()

    # -- stages 2 and 3 ---------------------------------------------------------------------------
    def deploy(self, env: str | None = None, *, faults: dict[str, float] | None = None, wait: bool = False,
               description: str = "") -> dict[str, Any]:
        """Publish a new version when code or configuration changed, and start its rollout.

        Local: the attached (or running) emulator. AWS: synth, change-set deploy of the stack and the
        rollout (what `deployer deploy` runs); `faults` are local only.
        """
        from deployer.ops.deploy import deploy

        outcome = deploy(self.target(env), faults=faults, wait=wait, description=description)
        self._deployed.append(outcome.environment)
        return outcome.to_dict()

    def run_load_test(self, env: str | LoadTest | None = None, load_test: LoadTest | None = None, *,
                      rps: float | None = None, duration_s: float | None = None, users: int | None = None,
                      input_file: str | None = None, report_dir: str | None = None, target_url: str | None = None,
                      write_report: bool = True, evaluate: bool = True) -> LoadTestResult:
        """Hold a request rate against the environment and judge it against its SLOs.

        `run_load_test("staging", rps=100, duration_s=300)`, or with a value:
        `run_load_test(LoadTest(requests_per_second=100, duration_seconds=300))`. With an evaluation
        section in the spec, its labelled set runs first and its gate is part of `result.passed`
        (`evaluate=False` skips it).
        """
        from deployer.loadtest.plan import Overrides, resolve_plan
        from deployer.loadtest.session import run_load_test
        from deployer.loadtest.target import load_target

        if isinstance(env, LoadTest):
            env, load_test = None, env
        test = load_test or LoadTest()
        environment = self.environment(env)
        test.check_distribution(environment.model.load.distribution)
        overrides = Overrides(rps=rps if rps is not None else test.requests_per_second,
                              duration_s=duration_s if duration_s is not None else test.duration_seconds,
                              users=users if users is not None else test.users,
                              input_file=input_file or test.input_file, report_dir=report_dir)
        with load_target(environment, target_url) as target:
            plan = resolve_plan(environment.model, overrides, target_url=target.url, iam_auth=target.iam_auth)
            result = run_load_test(plan, ops=target.ops, evaluate=evaluate)
        if write_report:
            from deployer.loadtest.report import write_report as write

            write(result)
        return result

    def rollout(self, env: str | None = None, **policy: Any) -> dict[str, Any] | None:
        """The current (or last) rollout: version, step, percent, status; None when there is none.

        The rollout policy itself lives in agent.yaml: `rollout(initial_traffic=...)` says which keys.
        """
        if policy:
            raise rollout_policy_error(policy)
        from deployer.ops.rollout import rollout_status

        return rollout_status(self.target(env))

    def status(self, env: str | None = None) -> dict[str, Any]:
        """What `deployer status --json` shows: versions, weights, rollout, alarms, requests per version."""
        from deployer.ops.status import status

        return status(self.target(env))

    def monitor(self, **policy: Any) -> None:
        """Monitoring is set in agent.yaml (`slos`, `alerts`, `monitoring`): this says which keys."""
        raise monitor_policy_error(policy)

    # -- incident response ------------------------------------------------------------------------
    def inspect_errors(self, env: str | None = None, *, limit: int = 100, since: str | float | None = None,
                       version: str | None = None) -> list[RequestRecord]:
        """The last failed requests, newest first."""
        from deployer.ops.records import parse_since
        from deployer.ops.requests import list_errors

        return list_errors(self.target(env), since_s=parse_since(since), version=version, limit=limit)

    def replay_request(self, env: str | None = None, *, request_id: str, version: str | None = None,
                       against: Against | None = None, allow_side_effects: bool = False) -> ReplayResult:
        """Run a recorded request's input again against a version (default: the stable one)."""
        from deployer.ops.replay import replay_request

        return replay_request(self.target(env), request_id, version=version, against=against,
                              allow_side_effects=allow_side_effects)

    def replay_last(self, env: str | None = None, last: int = 10, *, errors_only: bool = True,
                    version: str | None = None, against: Against | None = None,
                    allow_side_effects: bool = False) -> BatchReplay:
        """Replay the last `last` (failed) requests and summarise: now succeed, fail, changed."""
        from deployer.ops.replay import replay_batch

        return replay_batch(self.target(env), last, errors_only=errors_only, version=version, against=against,
                            allow_side_effects=allow_side_effects)

    def debug(self, env: str | None = None, *, window_s: float = 86400.0) -> dict[str, Any]:
        """What changed: weights, rollout, alarms, and the live version against the one before."""
        from deployer.ops.debug import what_changed

        return what_changed(self.target(env), window_s=window_s)

    def logs(self, env: str | None = None, *filters: str, since_s: float = 3600.0, limit: int = 100) -> list[LogLine]:
        """The structured request lines (`key=value` or text filters)."""
        from deployer.ops.logs import LogFilter, read_logs

        return read_logs(self.target(env), LogFilter.parse(list(filters)), since_s=since_s, limit=limit)

    def rollback(self, env: str | None = None, to: str | None = None, *, reason: str = "manual rollback",
                 who: str | None = None) -> dict[str, Any]:
        """All traffic back to the stable (or `to`) version now, stopping any rollout; recorded with who and why."""
        from deployer.ops.rollback import rollback

        return rollback(self.target(env), to=to, reason=reason, who=who)

    def alerts(self, env: str | None = None, *, limit: int = 50, **policy: Any) -> list[dict[str, Any]]:
        """Recent notifications (local: the emulator's deliveries; AWS: alarm history).

        Alerts themselves are set in agent.yaml: `alerts(on_error_rate_spike=...)` says which keys.
        """
        if policy:
            raise alerts_policy_error(policy)
        from deployer.ops.alerts import alerts

        return alerts(self.target(env), limit=limit)

    # -- stage 1 ----------------------------------------------------------------------------------
    def invoke(self, action: str, data: Any = None, env: str | None = None) -> Invocation | InvokeResult:
        """One request. Without `env`: in this process through the Lambda runtime (stage 1, an
        `Invocation`); with `env`: through the environment (the emulator's gateway, or the live
        alias in AWS), an `InvokeResult`.
        """
        if env is None:
            from deployer.invoke import invoke

            return invoke(self.model(self.project.default_environment()), action, data)
        from deployer.ops.replay import invoker_for

        return invoker_for(self.target(env))(action, {} if data is None else data, version=None, replay=False)
