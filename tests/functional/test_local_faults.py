"""Faults the emulator must ride out: an unwritable state directory mid-rollout, moto refusing the
alias, an unwritable alerts file, a corrupt or foreign state file at start.

Nothing wedges: the rollout and alarm threads go on, each problem is said (status, events.log) and
retried until it works; a rollback reads moto's alias back and fails loudly when it does not serve
the target alone. Conditions are waited for, never assumed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.local import Emulator, Faults
from deployer.local.front.drill import TrafficDriver
from deployer.local.state.moto_state import client
from tests.helpers.emulators import emulator, with_env
from tests.helpers.receivers import flagship_local
from tests.helpers.rollouts import with_schedule
from tests.helpers.waiting import wait_until


@pytest.fixture(scope="module")
def base_model() -> DeploymentModel:
    return flagship_local()


def problems(emu: Emulator) -> dict[str, dict[str, Any]]:
    return {p["part"]: p for p in emu.status()["problems"]}


@contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """No entry can be created, renamed or removed in `directory` (a full disk, for `state.json`).

    chmod for a user; root ignores modes, so the immutable flag for root (skipped where unsupported)."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(directory)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a directory unwritable as root here (no chattr +i)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_an_unwritable_state_directory_mid_rollout_wedges_nothing_and_rollback_tells_the_truth(
        base_model: DeploymentModel, tmp_path: Path) -> None:
    model = with_schedule(base_model, [(5.0, 300), (50.0, 36_000), (100.0, 0)])
    state = tmp_path / "state"
    with emulator(model, state) as emu:
        emu.deploy()
        emu.deploy(with_env(model, RELEASE="2"))
        wait_until(lambda: emu.status()["routing"]["additional"] == {"2": 0.05})
        with unwritable(state):
            # the rollout moves on to 50 % although state.json cannot be saved: said, not fatal
            wait_until(lambda: emu.status()["routing"]["additional"] == {"2": 0.5})
            failing = wait_until(lambda: problems(emu).get("state"))
            assert "state.json" in failing["what"] and failing["failures"] >= 1
            assert (emu.rollout() or {}).get("status") == "in_progress"
            alive = {t.name for t in threading.enumerate()}
            assert {"rollout", "alarm-evaluator", "recovery"} <= alive  # they died of it before
            assert emu.invoke("route", {"message": "hi"})["status"] == 200

            done = emu.rollback(reason="state dir full", who="tester")
            assert done["version"] == "1" and done["alias"] == {"primary": "1", "additional": {}}
            lam = client("lambda", emu.moto_endpoint, model.region)
            alias = lam.get_alias(FunctionName=model.function.name, Name=model.alias)
            assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
            assert emu.status()["routing"] == {"primary": "1", "additional": {}}
            third = emu.deploy(with_env(model, RELEASE="3"))  # not refused: the rollout is over
            assert third.version == "3"
            assert "state" in problems(emu) and "alarms" not in problems(emu)
            # `deployer status` says it too (the ops view of the emulator)
            from deployer.ops.status import status as ops_status
            from deployer.ops.target import target_from_endpoints

            view = ops_status(target_from_endpoints(model, emu.endpoints()))
            assert any(p["part"] == "state" and "state.json" in p["what"] for p in view["problems"])
        wait_until(lambda: "state" not in problems(emu))  # the recovery loop saved it once it could
        saved = json.loads((state / "state.json").read_text())
        assert [v["version"] for v in saved["versions"]] == ["1", "2", "3"]
        assert saved["rollout"]["version"] == "3"
        events = [json.loads(line) for line in (state / "events.log").read_text().splitlines()]
        said = [e for e in events if e["event"] in ("warning", "recovered") and e.get("part") == "state"]
        assert [e["event"] for e in said] == ["warning", "recovered"] and said[0]["level"] == "warning"


def test_a_rollback_moto_does_not_take_fails_saying_what_the_alias_serves(base_model: DeploymentModel,
                                                                          tmp_path: Path) -> None:
    model = with_schedule(base_model, [(100.0, 0)])
    with emulator(model, tmp_path / "state") as emu:
        emu.deploy()
        emu.deploy(with_env(model, RELEASE="2"), wait=True, timeout_s=30)
        lam = client("lambda", emu.moto_endpoint, model.region)
        lam.delete_function(FunctionName=model.function.name)  # moto loses the function and its alias
        with pytest.raises(DeployerError, match=r"rollback to version 1 not confirmed: moto's alias .* serves no alias"):
            emu.rollback(reason="bad answers")
        assert emu.status()["routing"] == {"primary": "1", "additional": {}}  # the gateway did roll back
        assert "alias" in problems(emu)


def test_an_unwritable_alerts_file_keeps_the_alarms_and_rollbacks_going(base_model: DeploymentModel,
                                                                        tmp_path: Path) -> None:
    model = with_schedule(base_model, [(50.0, 300), (100.0, 0)])
    state = tmp_path / "state"
    with emulator(model, state, time_scale=120) as emu:
        emu.deploy()
        (state / "alerts.jsonl").unlink(missing_ok=True)
        (state / "alerts.jsonl").mkdir()  # every write of the alerts file now fails
        driver = TrafficDriver(emu.gateway_url, "route", [{"message": "hello"}], rps=200, max_wall_s=60)
        driver.start()
        try:
            emu.deploy(faults=Faults(error_rate=0.5))
            rollout = emu.wait_for_rollout(timeout_s=60)
        finally:
            driver.stop()
        assert rollout is not None and rollout["status"] == "rolled_back"
        wait_until(lambda: "alerts" in problems(emu))
        assert "alarms" not in problems(emu)  # the evaluator thread that notified lives on
        assert any(a["event"] == "rollout" for a in emu.alerts())  # kept in memory meanwhile
        (state / "alerts.jsonl").rmdir()
        wait_until(lambda: "alerts" not in problems(emu))
        written = [json.loads(line) for line in (state / "alerts.jsonl").read_text().splitlines()]
        assert any(a["event"] == "rollout" for a in written)


def test_a_corrupt_state_file_stops_the_start_naming_the_file_and_what_to_do(base_model: DeploymentModel,
                                                                             tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text('{"agent": "support-router", "versions": [')
    with pytest.raises(DeployerError) as error:
        emulator(base_model, state).start()
    assert f"{state / 'state.json'} is corrupt" in error.value.message
    assert error.value.hint is not None and "mv " in error.value.hint and "does not reset" in error.value.hint
    assert (state / "state.json").read_text() == '{"agent": "support-router", "versions": ['  # untouched


def test_the_state_of_another_environment_is_never_replaced(base_model: DeploymentModel, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with emulator(base_model, state) as emu:
        emu.deploy()
    other = replace(base_model, environment="staging-local")
    before = (state / "state.json").read_text()
    with pytest.raises(DeployerError, match="holds the emulator state of support-router/local, not "
                                            "support-router/staging-local"):
        emulator(other, state).start()
    assert (state / "state.json").read_text() == before


def test_an_unwritable_state_directory_at_start_is_an_error_with_a_hint(base_model: DeploymentModel,
                                                                        tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "logs").mkdir(parents=True)
    with unwritable(state), pytest.raises(DeployerError) as error:
        emulator(base_model, state).start()
    assert f"cannot write the emulator's state file {state / 'state.json'}" in error.value.message
    assert error.value.hint is not None and "writable" in error.value.hint


def test_a_telemetry_sink_process_that_dies_is_started_again_and_loses_nothing(base_model: DeploymentModel,
                                                                               tmp_path: Path) -> None:
    model = with_schedule(base_model, [(100.0, 0)])
    state = tmp_path / "state"
    with emulator(model, state) as emu:
        emu.deploy()
        sinks = [pid for pid in children(os.getpid()) if b"deployer.local.state.sink" in cmdline(pid)]
        assert len(sinks) == 1
        os.kill(sinks[0], signal.SIGKILL)
        wait_until(lambda: not Path(f"/proc/{sinks[0]}").exists() or cmdline(sinks[0]) == b"")
        ids = [emu.invoke("route", {"message": f"m{i}"})["request_id"] for i in range(10)]
        dynamodb = client("dynamodb", emu.moto_endpoint, model.region)

        def recorded() -> bool:
            emu.flush()
            items = dynamodb.scan(TableName=model.request_log.table_name)["Items"]
            return set(ids) <= {i["request_id"]["S"] for i in items}

        wait_until(recorded)
        events = [json.loads(line) for line in (state / "events.log").read_text().splitlines()]
        said = [e["event"] for e in events if e.get("part") == "telemetry"]
        assert said[:2] == ["warning", "recovered"]


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
