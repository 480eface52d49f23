"""What a deploy publishes: the bundle, the function configuration, injected faults.

A version is new when the bundle's code hash (`deployer.bundle.bundle_hash`, the same content
hash the AWS deploy records) or the configuration hash (environment, memory, timeout, runtime,
architecture, spec hash) differs from the latest version's: a configuration-only change, fault
injection included, publishes a new version, as in Lambda.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel

#: Builds the bundle of a model under a directory and returns it (`deployer.bundle.build_bundle`'s signature).
BundleBuilder = Callable[[DeploymentModel, Path], Path]


@dataclass(frozen=True)
class Faults:
    """Fault injection for a version, set as function environment variables (read at cold start)."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    cost_multiplier: float = 1.0
    leak_kb: int = 0
    confuse: str = ""  # "field:a=b": answers whose field is a say b (handlers/faults.py)

    def environment(self) -> dict[str, str]:
        env = {}
        if self.error_rate:
            env["DEPLOYER_FAULT_ERROR_RATE"] = f"{self.error_rate:g}"
        if self.latency_ms:
            env["DEPLOYER_FAULT_LATENCY_MS"] = f"{self.latency_ms:g}"
        if self.cost_multiplier != 1.0:
            env["DEPLOYER_FAULT_COST_MULTIPLIER"] = f"{self.cost_multiplier:g}"
        if self.leak_kb:
            env["DEPLOYER_FAULT_LEAK_KB"] = str(self.leak_kb)
        if self.confuse:
            env["DEPLOYER_FAULT_CONFUSE"] = self.confuse
        return env

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v != type(self)().__dict__[k]}


@dataclass(frozen=True)
class DeployResult:
    version: str
    created: bool
    message: str
    rollout: dict[str, Any] | None


def default_bundle_builder(model: DeploymentModel, out_dir: Path) -> Path:
    """The bundle the emulator runs: the Lambda bundle, built for a Python this machine has.

    With no CPython of the function's version here, dependencies are installed for this
    interpreter's version instead, so their compiled wheels load (the emulator warns about it).
    """
    from deployer.bundle import build_bundle

    return Path(build_bundle(local_runtime_model(model), out_dir))


def local_runtime_model(model: DeploymentModel) -> DeploymentModel:
    if interpreter_for(model.function.python) is not None:
        return model
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    return replace(model, function=replace(model.function, python=host))


@functools.cache
def interpreter_for(python: str) -> str | None:
    """A CPython of the function's version ("3.12"), so the bundle's compiled wheels load as in Lambda."""
    from deployer.bundle.deps import find_interpreter

    return find_interpreter(python)


def config_hash(model: DeploymentModel, environment: dict[str, str]) -> str:
    fn = model.function
    data = [environment, fn.memory_mb, fn.timeout_s, fn.lambda_runtime, fn.architecture, model.spec_hash]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
