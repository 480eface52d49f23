"""Execution environments as Lambda keeps them: one per concurrent request, cold starts, throttles.

A real emulator runs a bundle whose `hold` action blocks until the test creates a file, so requests
stay in flight exactly as long as a test needs (no sleeps, no timing assertions); each answer says
which process served it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deployer.compiled import DeploymentModel
from deployer.local import Emulator
from deployer.local.state.moto_state import client
from deployer.ops.replay import call_gateway
from tests.helpers.raw_http import build_hold_bundle
from tests.helpers.receivers import flagship_local
from tests.helpers.rollouts import with_schedule
from tests.helpers.waiting import wait_until


def model_for(tmp_path: Path, *, reserved: int | None = None, timeout_s: int = 10) -> DeploymentModel:
    model = flagship_local()
    function = replace(model.function, reserved_concurrency=reserved, timeout_s=timeout_s,
                       environment={**model.function.environment, "TEST_RELEASE_FILE": str(tmp_path / "release")})
    return with_schedule(replace(model, function=function), [(100.0, 0)])


@pytest.fixture()
def release(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "release"
    yield path
    path.touch()  # whatever happened, no request stays held


def post(emu: Emulator, action: str, timeout_s: float = 60.0) -> dict[str, Any]:
    return call_gateway(emu.gateway_url, action, b"{}", timeout_s=timeout_s).to_dict()


def in_background(emu: Emulator, action: str, count: int) -> tuple[list[threading.Thread], list[dict[str, Any]]]:
    answers: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: answers.append(post(emu, action))) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def report_lines(emu: Emulator, request_id: str) -> list[str]:
    return [line for line in emu.logs(10_000) if "REPORT" in line and request_id in line]


def test_concurrent_requests_get_their_own_environment_each_with_a_cold_start(tmp_path, release):
    with Emulator(model_for(tmp_path), state_dir=tmp_path / "state", bundle_builder=build_hold_bundle) as emu:
        emu.deploy()
        warm = post(emu, "who")
        assert warm["status"] == 200 and warm["body"]["init"] == "provisioned-concurrency"
        assert "Init Duration" not in report_lines(emu, warm["request_id"])[0]  # initialized at deploy

        threads, answers = in_background(emu, "hold", 3)
        wait_until(lambda: emu._pool.stats()["1"].busy == 3)  # type: ignore[union-attr]
        release.touch()
        for thread in threads:
            thread.join(timeout=60)
        assert [a["status"] for a in answers] == [200, 200, 200]
        pids = {a["body"]["pid"] for a in answers}
        assert len(pids) == 3, answers  # one request at a time per environment
        cold = [a for a in answers if a["body"]["init"] == "on-demand"]
        assert len(cold) == 2 and warm["body"]["pid"] in pids
        for answer in cold:  # each new environment's first request reports its init, as Lambda's REPORT does
            assert re.search(r"Init Duration: \d+\.\d\d ms", report_lines(emu, answer["request_id"])[0])
        stats = emu._pool.stats()["1"]  # type: ignore[union-attr]
        assert (stats.environments, stats.cold_starts, stats.throttles) == (3, 2, 0)

        again = post(emu, "who")  # warm reuse: no new environment, no Init Duration
        assert again["body"]["pid"] in pids and "Init Duration" not in report_lines(emu, again["request_id"])[0]
        assert emu._pool.stats()["1"].environments == 3  # type: ignore[union-attr]


def test_past_the_reserved_concurrency_a_request_is_throttled_and_recorded(tmp_path, release):
    model = model_for(tmp_path, reserved=2)
    with Emulator(model, state_dir=tmp_path / "state", bundle_builder=build_hold_bundle) as emu:
        emu.deploy()
        threads, answers = in_background(emu, "hold", 2)
        wait_until(lambda: emu._pool.stats()["1"].busy == 2)  # type: ignore[union-attr]
        throttled = post(emu, "route")
        assert throttled["status"] == 429 and throttled["body"] == {"message": "Rate Exceeded."}
        release.touch()
        for thread in threads:
            thread.join(timeout=60)
        assert [a["status"] for a in answers] == [200, 200]
        assert emu._pool.stats()["1"].throttles == 1  # type: ignore[union-attr]

        # on the record like any failure: request log (what `deployer errors` reads) and the version's EMF
        emu.flush()
        dynamodb = client("dynamodb", emu.moto_endpoint, model.region)
        item = wait_until(lambda: dynamodb.get_item(TableName=model.request_log.table_name,
                                                    Key={"request_id": {"S": throttled["request_id"]}}).get("Item"))
        assert item["outcome"]["S"] == "error" and item["status"]["N"] == "429"
        assert item["error_type"]["S"] == "TooManyRequestsException" and item["version"]["S"] == "1"
        assert item["action"]["S"] == "route"
        assert "the function's concurrency limit (function.reserved_concurrency) is 2" in item["error_message"]["S"]
        now = emu.clock.now()
        # the version's EMF datapoint (its Errors counts 5xx only, as the runtime's does): alarms see it
        assert emu.metrics.totals_by("Deployer", "Invocations", "Version", now - 3600, now + 1) == {"1": 1.0}


def test_a_timed_out_request_discards_its_environment_and_is_recorded_as_an_error(tmp_path):
    model = model_for(tmp_path, timeout_s=1)
    with Emulator(model, state_dir=tmp_path / "state", bundle_builder=build_hold_bundle) as emu:
        emu.deploy()
        first = post(emu, "who")["body"]["pid"]
        slow = post(emu, "slow")
        assert slow["status"] == 502
        after = post(emu, "who")
        assert after["status"] == 200 and after["body"]["pid"] != first  # a new environment, cold
        assert "Status: timeout" in report_lines(emu, slow["request_id"])[0]
        records = [json.loads(line) for line in emu.logs(10_000) if line.startswith('{"event": "request"')]
        mine = next(r for r in records if r["request_id"] == slow["request_id"])
        assert (mine["outcome"], mine["status"], mine["error_type"], mine["version"]) == \
            ("error", 502, "Sandbox.Timedout", "1")
        assert any(e["kind"] == "worker" for e in emu.timeline())
        now = emu.clock.now()
        assert emu.metrics.totals_by("Deployer", "Errors", "Version", now - 3600, now + 1) == {"1": 1.0}


def test_a_crashed_environment_answers_502_on_the_record_and_the_next_request_is_served(tmp_path):
    with Emulator(model_for(tmp_path), state_dir=tmp_path / "state", bundle_builder=build_hold_bundle) as emu:
        emu.deploy()
        crashed = post(emu, "exit")
        assert crashed["status"] == 502
        assert post(emu, "who")["status"] == 200
        lines = emu.logs(10_000)
        record = next(json.loads(line) for line in lines
                      if line.startswith('{"event": "request"') and crashed["request_id"] in line)
        assert record["error_type"] == "Runtime.ExitError" and record["outcome"] == "error"
        assert any("[ERROR] Runtime.ExitError" in line for line in lines)


def test_memory_used_is_one_figure_in_the_report_line_the_header_and_the_record(tmp_path):
    with Emulator(model_for(tmp_path), state_dir=tmp_path / "state", bundle_builder=build_hold_bundle) as emu:
        emu.deploy()
        reply = call_gateway(emu.gateway_url, "who", b"{}", timeout_s=30)
        header = reply.max_memory_mb
        assert reply.request_id is not None
        report = report_lines(emu, reply.request_id)[0]
        assert header == 42.7  # the handler's record says 42.7 MB: the same figure in the header
        assert "Max Memory Used: 43 MB" in report and "Memory Size: 512 MB" in report  # whole MB, as Lambda prints


def test_past_this_machines_environments_the_throttle_says_lambda_would_have_started_another(tmp_path, release):
    """No reserved concurrency: the limit in force is the machine's, not Lambda's; the 429 and the timeline say so."""
    with Emulator(model_for(tmp_path), state_dir=tmp_path / "state", bundle_builder=build_hold_bundle,
                  max_environments=2) as emu:
        emu.deploy()
        threads, answers = in_background(emu, "hold", 2)
        wait_until(lambda: emu._pool.stats()["1"].busy == 2)  # type: ignore[union-attr]
        throttled = post(emu, "route")
        again = post(emu, "route")
        release.touch()
        for thread in threads:
            thread.join(timeout=60)
        assert [a["status"] for a in answers] == [200, 200]
        assert throttled["status"] == again["status"] == 429
        warnings = [e["message"] for e in emu.timeline() if "the most this machine runs" in e["message"]]
        assert len(warnings) == 1  # said once, not per request
        assert "Lambda would start another environment (the function's limit is 1000)" in warnings[0]
        assert "--users" in warnings[0]
