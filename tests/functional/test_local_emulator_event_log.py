"""A real emulator writes its timeline to events.log through structlog, one JSON line per event."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

from deployer.local import Emulator
from deployer.local.bundles.testkit import build_echo_bundle
from tests.helpers.receivers import flagship_local
from tests.helpers.rollouts import with_schedule


def test_every_timeline_event_is_a_json_line_of_events_log_in_the_same_order(tmp_path: Path) -> None:
    base = flagship_local()
    model = with_schedule(base, [(5.0, 0), (50.0, 0), (100.0, 0)])
    changed = replace(model, function=replace(model.function, environment={**model.function.environment, "R": "2"}),
                      spec_hash=model.spec_hash + "-2")
    console = io.StringIO()
    with Emulator(model, state_dir=tmp_path, time_scale=600.0, bundle_builder=build_echo_bundle,
                  event_console=console) as emu:
        emu.deploy()
        emu.deploy(changed, wait=True, timeout_s=30)
        emu.rollback(reason="bad answers", who="tester")
        timeline = emu.timeline()

    logged = [json.loads(line) for line in (tmp_path / "events.log").read_text().splitlines()]
    assert [(e["event"], e["message"], e["at"], e["time"]) for e in logged] == [
        (e["kind"], e["message"], e["at"], e["time"]) for e in timeline]
    kinds = {e["event"] for e in logged}
    assert {"publish", "complete", "start", "shift", "rollback"} <= kinds
    assert all((e["agent"], e["environment"]) == (model.agent, model.environment) for e in logged)
    assert all(e["wall_time"].endswith("Z") and e["level"] in ("info", "warning") for e in logged)
    shifts = [e for e in logged if e["event"] == "shift" and e["version"] == "2"]
    assert [e["percent"] for e in shifts] == [5.0, 50.0, 100.0]
    rollback = next(e for e in logged if e["event"] == "rollback" and e.get("who") == "tester")
    assert (rollback["version"], rollback["previous"], rollback["level"]) == ("1", "2", "warning")
    shown = console.getvalue().splitlines()
    assert len(shown) == len(timeline) and any("kind=shift" in line and "percent=50.0" in line for line in shown)
