"""Resolve an environment once: load the spec, pick the environment, compile it, find where it runs.

Every command and `Pipeline` start here, so that they agree on which environment is meant and
where it runs:

    project = Project("agent.yaml")                 # the spec, loaded once
    environment = project.environment("staging")    # compiled once; None: the default environment
    environment.target()                            # an `OpsTarget`: the running emulator, or AWS
    environment.emulator(required=False)            # the running emulator serving it, if any

One rule picks the environment when none is named (`default_environment`): the one running when
exactly one of the spec's environments is (an emulator serving it, or one the caller deployed),
else the first with `target: local`, else the first. One check says whether a running emulator
serves the environment (`deployer.ops.target.serving_emulator`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError

if TYPE_CHECKING:
    from deployer.ops.target import OpsTarget
    from deployer.spec.loader import LoadedSpec


def default_environment(targets: Mapping[str, str], *, running: Iterable[str] = ()) -> str:
    """The environment meant when none is named. `targets`: environment name -> `local` | `aws`."""
    if not targets:
        raise DeployerError("the spec has no environments", hint="add one under environments:")
    live = list(dict.fromkeys(name for name in running if name in targets))
    if len(live) == 1:
        return live[0]
    if len(live) > 1:
        raise DeployerError(f"more than one environment could be meant ({', '.join(live)})",
                            hint="name the environment (for example --env " + live[0] + ")")
    return next((name for name, target in targets.items() if target == "local"), next(iter(targets)))


class Project:
    """One agent spec: loaded once, each environment compiled once, and the emulator serving it.

    `emulator`: an `Emulator` (or anything with `endpoints()`) attached in this process; without
    one, the emulator `deployer local up` advertises next to the spec is looked up when needed.
    """

    def __init__(self, spec_path: str | os.PathLike[str] = "agent.yaml", *, emulator: Any = None) -> None:
        self.spec_path = Path(spec_path)
        self.emulator = emulator
        self._loaded: LoadedSpec | None = None
        self._models: dict[str, DeploymentModel] = {}

    def __repr__(self) -> str:
        return f"Project({str(self.spec_path)!r})"

    @property
    def loaded(self) -> LoadedSpec:
        if self._loaded is None:
            from deployer.spec import load_spec

            self._loaded = load_spec(self.spec_path)
        return self._loaded

    @property
    def environments(self) -> list[str]:
        return list(self.loaded.spec.environments)

    def targets(self) -> dict[str, str]:
        """Environment name -> `local` | `aws`, in the spec's order."""
        return {name: str(getattr(env, "target", "aws")) for name, env in self.loaded.spec.environments.items()}

    def model(self, env: str) -> DeploymentModel:
        """The compiled model of one environment (what `deployer plan --env ENV` shows)."""
        if env not in self._models:
            from deployer.compiler import compile_environment

            self._models[env] = compile_environment(self.loaded, env)
        return self._models[env]

    def state_dir(self) -> Path:
        from deployer.local.front.discovery import state_dir_for

        return state_dir_for(self.spec_path)

    def running(self) -> dict[str, Any] | None:
        """The endpoints of the emulator serving this project: the attached one, else `local up`'s."""
        if self.emulator is not None:
            endpoints = self.emulator.endpoints()
            return dict(endpoints) if endpoints.get("control_url") else None
        from deployer.ops.target import running_emulator

        return running_emulator(self.state_dir())

    def default_environment(self, *, also_running: Iterable[str] = ()) -> str:
        found = self.running() if any(t == "local" for t in self.targets().values()) else None
        running = [found["environment"]] if found and found.get("environment") else []
        return default_environment(self.targets(), running=[*running, *also_running])

    def environment(self, env: str | None = None, *, local_only: bool = False,
                    also_running: Iterable[str] = ()) -> Environment:
        """Resolve one environment (`env`, or the default one); `local_only`: it must run in the emulator."""
        if env is None:
            env = self.default_environment(also_running=also_running)
            if local_only and self.targets().get(env) != "local":
                raise DeployerError(f"{self.spec_path} has no environment with `target: local`",
                                    hint="add one (environments: {local: {target: local}}) or pass --env")
        model = self.model(env)
        if local_only and model.target != "local":
            raise DeployerError(f"environment {env} targets {model.target}, not the local emulator",
                                hint="pick an environment with `target: local`")
        return Environment(self, model)


@dataclass(frozen=True)
class Environment:
    """One compiled environment of a project, and the way to where it runs."""

    project: Project
    model: DeploymentModel

    @property
    def name(self) -> str:
        return self.model.environment

    @property
    def local(self) -> bool:
        return self.model.target == "local"

    def emulator(self, *, required: bool = True) -> dict[str, Any] | None:
        """The endpoints of the running emulator serving this environment (local environments)."""
        from deployer.ops.target import serving_emulator

        return serving_emulator(self.model, self.project.running(), required=required,
                                looked_in=self.project.state_dir())

    def target(self, *, endpoint_url: str | None = None) -> OpsTarget:
        """Where the environment runs: the serving emulator (required) for a local one, AWS otherwise."""
        from deployer.ops.target import aws_target, target_from_endpoints

        if not self.local:
            return aws_target(self.model, endpoint_url=endpoint_url)
        endpoints = self.emulator()
        assert endpoints is not None
        return target_from_endpoints(self.model, endpoints)


def resolve_environment(spec_path: str | os.PathLike[str], env: str | None = None, *,
                        local_only: bool = False) -> Environment:
    """What each command starts with: `Project(spec_path).environment(env)`."""
    return Project(spec_path).environment(env, local_only=local_only)

