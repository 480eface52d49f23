"""The emulator's request log: every record on the record, one bad record alone, a restart forgets nothing.

The fixture agent runs on the real runtime (its bundle built as for Lambda), so request ids come
from the runtime's own event parsing and records from its own log lines; they are read back with
boto3 from moto, as `deployer errors` reads them.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deployer.compiled import DeploymentModel
from deployer.local import Emulator
from deployer.local.front.discovery import EmulatorClient
from deployer.local.state.moto_state import client
from handlers.recorder import item_to_record
from tests.helpers.agent_fixtures import compile_project, write_project
from tests.helpers.rollouts import with_schedule

SCALE = 600.0


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("project"), sample_rate=1.0)


@pytest.fixture(scope="module")
def model(project: Path) -> DeploymentModel:
    return with_schedule(compile_project(project), [(100.0, 0)])


@pytest.fixture()
def emu(model: DeploymentModel, tmp_path: Path) -> Iterator[Emulator]:
    with Emulator(model, state_dir=tmp_path / "state", time_scale=SCALE) as running:
        running.deploy()
        yield running


def send(emu: Emulator, action: str, body: bytes, request_id: str | None = None) -> dict[str, Any]:
    """POST as a client would, with its own `x-request-id` when given; the status and the id it got back."""
    conn = http.client.HTTPConnection(emu.gateway_url.split("//", 1)[1], timeout=60)
    try:
        headers = {"content-type": "application/json", **({"x-request-id": request_id} if request_id else {})}
        conn.request("POST", f"/{action}", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return {"status": response.status, "request_id": response.getheader("x-request-id")}
    finally:
        conn.close()


def records(emu: Emulator, model: DeploymentModel) -> dict[str, dict[str, Any]]:
    """The request log as `deployer errors` reads it: boto3 over moto's endpoint."""
    emu.flush()
    dynamodb = client("dynamodb", emu.moto_endpoint, model.region)
    pages = dynamodb.get_paginator("scan").paginate(TableName=model.request_log.table_name)
    return {i["request_id"]["S"]: item_to_record(i) for page in pages for i in page["Items"]}


def test_one_bad_record_never_costs_its_batch_the_other_records(emu: Emulator, model: DeploymentModel) -> None:
    bodies = [(b'{"text": "\\ud800 lone"}', None), (b'{"text": "fine"}', "x" * 10_000)]
    bodies += [(json.dumps({"text": f"ok {i}"}).encode(), None) for i in range(9)]
    answers: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda b=b, r=r: answers.append(send(emu, "echo", b, r))) for b, r in bodies]
    for thread in threads:  # together, so that they share the sink's batches
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 11
    ids = [a["request_id"] for a in answers]
    assert all(len(i) <= 128 for i in ids) and "x" * 10_000 not in ids  # the 10,000-character id was replaced
    log = records(emu, model)
    assert set(ids) <= set(log)  # all eleven are on the record
    lone = next(r for r in log.values() if "lone" in json.dumps(r.get("input"), ensure_ascii=False))
    assert "\ufffd" in json.dumps(lone["input"], ensure_ascii=False)
    counters = emu.status()["request_log"]
    assert counters["written"] >= 11 and counters["quarantined"] == 0 and not emu.status()["problems"]


def test_a_reused_request_id_keeps_both_requests_records(emu: Emulator, model: DeploymentModel) -> None:
    first = send(emu, "fail", b'{"text": "first"}', "client-id-1")
    second = send(emu, "echo", b'{"text": "second"}', "client-id-1")
    assert first["request_id"] == second["request_id"] == "client-id-1"
    log = records(emu, model)
    assert log["client-id-1"]["error_type"] == "ValueError" and log["client-id-1"]["input"] == {"text": "first"}
    assert log["client-id-1~2"]["input"] == {"text": "second"}
    assert log["client-id-1~2"]["reused_request_id"] == "client-id-1"


def test_a_record_that_cannot_be_an_item_is_quarantined_alone_and_said(emu: Emulator, model: DeploymentModel,
                                                                        tmp_path: Path) -> None:
    good = {"event": "request", "request_id": "sent-directly", "ts": 1_700_000_000_000, "action": "echo",
            "version": "1", "status": 200, "outcome": "ok"}
    emu.sink.add_lines(emu.clock.now(), [json.dumps({**good, "request_id": "bad-ts", "ts": "yesterday"}),
                                          json.dumps(good)])
    log = records(emu, model)
    assert "sent-directly" in log and "bad-ts" not in log
    assert emu.status()["request_log"]["quarantined"] == 1
    api = EmulatorClient(emu.control_url)
    why = api.why_missing("bad-ts")
    assert why is not None and "quarantined" in why and "ValueError" in why
    assert api.why_missing("sent-directly") is None
    assert "never recorded" in str(api.why_missing("no-such-request"))
    kept = [json.loads(line) for line in (tmp_path / "state" / "request-log" / "quarantine.jsonl").read_text().splitlines()]
    assert [k["request_id"] for k in kept] == ["bad-ts"]


def test_the_request_log_and_the_deploy_history_survive_a_restart(model: DeploymentModel, tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Emulator(model, state_dir=state, time_scale=SCALE) as emu:
        emu.deploy()
        changed = replace(model, function=replace(model.function, environment={"RELEASE": "2"}))
        emu.deploy(changed, wait=True, timeout_s=60)
        for i in range(5):
            send(emu, "fail" if i % 2 else "echo", json.dumps({"text": f"n{i}"}).encode())
        before = records(emu, model)
    assert {"deploy#local#1", "deploy#local#2"} <= set(before) and len(before) == 7
    with Emulator(model, state_dir=state, time_scale=SCALE) as again:  # moto starts empty; the journal refills it
        after = records(again, model)
        assert after == before
        assert again.status()["request_log"]["kept"] == 5
    (state / "request-log" / "deploys.jsonl").unlink()  # a state directory from before the journal kept them
    with Emulator(model, state_dir=state, time_scale=SCALE) as third:
        history = records(third, model)
        assert {k: v["code_hash"] for k, v in history.items() if k.startswith("deploy#")} == {
            k: v["code_hash"] for k, v in before.items() if k.startswith("deploy#")}


def test_the_request_log_is_bounded_and_says_what_it_dropped(model: DeploymentModel, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYER_LOCAL_REQUEST_LOG_LIMIT", "10")
    with Emulator(model, state_dir=tmp_path / "state", time_scale=SCALE) as emu:
        emu.deploy()
        ids = [send(emu, "echo", b'{"text": "x"}')["request_id"] for _ in range(30)]
        log = records(emu, model)
        kept = [i for i in ids if i in log]
        assert 9 <= len(kept) <= 10 and kept == ids[-len(kept):]  # the newest, from disk and from moto
        assert "deploy#local#1" in log  # deploy records never go
        why = EmulatorClient(emu.control_url).why_missing(ids[0])
        assert why is not None and "keeps the newest 10 request records" in why and "dropped" in why
        segments = sorted((tmp_path / "state" / "request-log").glob("requests-*.jsonl"))
        assert sum(len(p.read_text().splitlines()) for p in segments) == len(kept)
