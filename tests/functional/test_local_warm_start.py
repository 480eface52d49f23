"""Cold starts are not evidence: a new version's agent loads before any traffic shifts to it.

The emulator starts a version's worker at deploy with `AWS_LAMBDA_INITIALIZATION_TYPE=
provisioned-concurrency`, and the runtime then loads the agent during init (as Lambda does under
provisioned concurrency), so a slow model load never lands in a canary's bake. A real bundle of a
small agent whose load takes a second is deployed through the real emulator.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from deployer.compiler import compile_environment
from deployer.errors import DeployerError
from deployer.local import Emulator
from deployer.spec import load_spec
from tests.helpers.rollouts import with_schedule
from tests.helpers.waiting import wait_until

PY = f"{sys.version_info.major}.{sys.version_info.minor}"
SPEC = f"""\
name: slow-start
code: {{path: code, entrypoint: slow_agent:SlowAgent}}
runtime: {{python: "{PY}", timeout: 10s}}
model: {{provider: python, id: slow_agent:load}}
actions: {{whoami: {{timeout: 2s}}}}
environments:
  local: {{target: local}}
"""
AGENT = """\
import os
import time

from handlers import action, agent

LOAD_S = float(os.environ.get("SLOW_LOAD_S", "1.0"))


class Predictor:
    def __init__(self) -> None:
        self.loaded_at = time.time()

    def predict(self, prompt):
        return {"text": "ok", "confidence": 1.0}


def load(artifacts_dir, parameters=None):
    time.sleep(LOAD_S)
    if os.environ.get("BROKEN_MODEL"):
        raise RuntimeError("the model file is corrupt")
    return Predictor()


@agent
class SlowAgent:
    @action
    def whoami(self) -> dict:
        return {"loaded_at": self.model.predictor.loaded_at, "pid": os.getpid()}
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "slow_agent.py").write_text(AGENT)
    (tmp_path / "agent.yaml").write_text(SPEC)
    return tmp_path / "agent.yaml"


def changed(model, **env: str):  # type: ignore[no-untyped-def]
    function = replace(model.function, environment={**model.function.environment, **env})
    return replace(model, function=function, spec_hash=model.spec_hash + "-" + "-".join(env))


@pytest.mark.slow
def test_a_new_version_loads_its_agent_before_any_traffic_shifts_to_it(project: Path, tmp_path: Path) -> None:
    model = with_schedule(compile_environment(load_spec(project), "local"), [(50.0, 60), (100.0, 0)])
    with Emulator(model, state_dir=tmp_path / "state", time_scale=600) as emu:
        emu.deploy()
        result = emu.deploy(changed(model, RELEASE="2"))
        deployed_at = time.time()
        warm = next(e for e in emu.timeline() if e["kind"] == "warm" and e["version"] == result.version)
        assert warm["init_ms"] >= 1000, warm  # the one-second load happened in the init phase
        shifts = wait_until(lambda: [e for e in emu.timeline() if e["kind"] == "shift" and e["version"] == result.version])
        assert shifts[0]["at"] >= warm["at"]  # no weight moved before the version was warm
        reply = emu.invoke("whoami", {}, version=result.version)
        assert reply["status"] == 200, reply
        assert reply["body"]["output"]["loaded_at"] < deployed_at  # the first request found the agent loaded
        assert reply["handler_ms"] < 1000
        emu.rollback(reason="test over")


@pytest.mark.slow
def test_an_agent_that_cannot_load_fails_the_deploy_not_the_traffic(project: Path, tmp_path: Path) -> None:
    model = with_schedule(compile_environment(load_spec(project), "local"), [(50.0, 60), (100.0, 0)])
    with Emulator(model, state_dir=tmp_path / "state", time_scale=600) as emu:
        emu.deploy()
        with pytest.raises(DeployerError, match="the model file is corrupt"):
            emu.deploy(changed(model, BROKEN_MODEL="1", SLOW_LOAD_S="0"))
        assert emu.status()["routing"] == {"primary": "1", "additional": {}}


def test_lambda_loads_the_agent_during_init_only_under_provisioned_concurrency(project: Path, tmp_path: Path) -> None:
    """The bundle's runtime, imported as Lambda imports it: the load happens at import under
    provisioned concurrency, and on the first request otherwise."""
    from deployer.bundle import build_bundle

    bundle = build_bundle(compile_environment(load_spec(project), "local"), tmp_path / "bundles")
    probe = ("import handlers.runtime as r; "
             "print(r._runtime is not None and r._runtime._loaded is not None, r.init_error)")
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    for kind, loaded in (("provisioned-concurrency", "True None"), ("on-demand", "False None")):
        out = subprocess.run([sys.executable, "-c", probe], cwd=bundle, capture_output=True, text=True, timeout=60,
                             env={**base, "AWS_LAMBDA_INITIALIZATION_TYPE": kind, "LAMBDA_TASK_ROOT": str(bundle),
                                  "SLOW_LOAD_S": "0", "PYTHONPATH": str(bundle)})
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == loaded.split(), (kind, out.stdout, out.stderr)
