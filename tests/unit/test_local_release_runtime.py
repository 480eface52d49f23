"""Which Python the emulator builds a version's bundle for."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from deployer.compiler import compile_environment
from deployer.local.bundles.release import local_runtime_model
from deployer.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_runtime_python_falls_back_to_this_interpreter() -> None:
    model = compile_environment(load_spec(ROOT / "agent.yaml"), "local")
    absent = replace(model, function=replace(model.function, python="3.99"))
    local = local_runtime_model(absent)
    assert local.function.python == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert local.function.memory_mb == model.function.memory_mb


def test_an_available_runtime_python_is_kept() -> None:
    model = compile_environment(load_spec(ROOT / "agent.yaml"), "local")
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    mine = replace(model, function=replace(model.function, python=host))
    assert local_runtime_model(mine) is mine
