"""Unchanged code costs nothing: no build (in this emulator or the next), no upload; an edit builds again."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from deployer.compiled import DeploymentModel
from deployer.compiler import compile_environment
from deployer.local import Emulator, Faults
from deployer.local.bundles.testkit import build_echo_bundle
from deployer.local.state.moto_state import client
from deployer.spec import load_spec
from tests.helpers.agent_fixtures import write_project
from tests.helpers.rollouts import with_schedule


class CountingBuilder:
    """The echo bundle builder, counting its builds."""

    def __init__(self) -> None:
        self.builds = 0

    def __call__(self, model: DeploymentModel, out: Path) -> Path:
        self.builds += 1
        return build_echo_bundle(model, out)


def test_unchanged_sources_are_not_built_again_and_a_config_change_shares_the_bundle(tmp_path: Path) -> None:
    spec = write_project(tmp_path / "project")
    model = with_schedule(compile_environment(load_spec(spec), "local"), [(100.0, 0)])
    builder = CountingBuilder()
    with Emulator(model, state_dir=tmp_path / "state", time_scale=600, bundle_builder=builder) as emu:
        assert emu.deploy().version == "1" and builder.builds == 1
        again = emu.deploy()
        assert (again.created, builder.builds) == (False, 1)  # no build to find that nothing changed
        faulty = emu.deploy(faults=Faults(error_rate=0.1), wait=True, timeout_s=30)
        assert (faulty.version, builder.builds) == ("2", 1)  # configuration only: the same bundle
        one, two = emu.state.version("1"), emu.state.version("2")
        assert one is not None and two is not None
        assert two.bundle_dir == one.bundle_dir and two.code_hash == one.code_hash
        lam = client("lambda", emu.moto_endpoint, model.region)
        configs = [lam.get_function_configuration(FunctionName=model.function.name, Qualifier=v) for v in ("1", "2")]
        assert configs[0]["CodeSha256"] == configs[1]["CodeSha256"]
        assert configs[1]["Environment"]["Variables"]["DEPLOYER_FAULT_ERROR_RATE"] == "0.1"

        source = Path(model.code.root) / "fixture_agent.py"
        source.write_text(source.read_text() + "\n# edited\n")
        stamp = source.stat().st_mtime_ns + 1_000_000_000
        os.utime(source, ns=(stamp, stamp))  # an edit within the file system's time resolution still counts
        edited = emu.deploy(faults=Faults(error_rate=0.1))
        assert builder.builds == 2 and edited.created is False  # built again; the echo bundle did not change
        assert emu.deploy(faults=Faults(error_rate=0.1)).created is False and builder.builds == 2  # remembered

        changed = replace(model, function=replace(model.function, memory_mb=model.function.memory_mb * 2))
        assert emu.deploy(changed, wait=True, timeout_s=30).version == "3"  # the bundle's configuration changed
        assert builder.builds == 3
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    assert all(v["source_hash"] for v in saved["versions"])
    with Emulator(changed, state_dir=tmp_path / "another", time_scale=600, bundle_builder=builder) as other:
        assert other.deploy().version == "1" and builder.builds == 3  # the project's bundle cache had it
        assert other.invoke("echo", {"text": "hi"})["status"] == 200
