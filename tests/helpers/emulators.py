"""An emulator on the stand-in echo bundle, for tests of the emulator's own behaviour."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from deployer.compiled import DeploymentModel
from deployer.local import Emulator
from deployer.local.bundles.testkit import build_echo_bundle

SCALE = 600.0  # one emulated minute = 0.1 s


def emulator(model: DeploymentModel, state_dir: Path, **kwargs: Any) -> Emulator:
    """An emulator of `model` at x`SCALE` (unless `time_scale=` says otherwise) whose versions are echo bundles."""
    return Emulator(model, state_dir=state_dir, time_scale=kwargs.pop("time_scale", SCALE),
                    bundle_builder=build_echo_bundle, **kwargs)


def with_env(model: DeploymentModel, **env: str) -> DeploymentModel:
    """`model` with more function environment variables: a new configuration, so a new version."""
    function = replace(model.function, environment={**model.function.environment, **env})
    return replace(model, function=function, spec_hash=model.spec_hash + "-" + json.dumps(env, sort_keys=True))
