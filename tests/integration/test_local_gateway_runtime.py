"""Hostile bodies through the gateway to the real runtime (the fixture agent's real bundle).

A body the runtime cannot read is the client's fault: 400 with a request record, never a 502 that
counts against the version's error-rate alarm.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from deployer.local import Emulator
from deployer.ops.replay import call_gateway
from tests.helpers.agent_fixtures import compile_project, write_project

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    root = tmp_path_factory.mktemp("agent")
    model = compile_project(write_project(root, python="3.11"))
    # room for a 200 KB body: the runtime must meet the nesting, not the action's payload limit first
    model = replace(model, actions=tuple(replace(a, max_payload_bytes=1024 * 1024) for a in model.actions))
    with Emulator(model) as emulator:
        emulator.deploy()
        yield emulator


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b'{"text": 1}'])
def test_an_unreadable_body_is_a_400_on_the_record(emu, body):
    reply = call_gateway(emu.gateway_url, "echo", body, timeout_s=30)
    assert reply.status in (400, 422), reply
    records = [json.loads(line) for line in emu.logs(10_000) if line.startswith('{"event": "request"')]
    assert any(r["outcome"] == "error" and r["status"] == reply.status for r in records)


def test_a_100000_deep_json_body_gets_400_not_502(emu):
    deep = b"[" * 100_000 + b"]" * 100_000
    reply = call_gateway(emu.gateway_url, "echo", deep, timeout_s=30)
    assert reply.status == 400, reply
    record = next(json.loads(line) for line in emu.logs(10_000)
                  if line.startswith('{"event": "request"') and str(reply.request_id) in line)
    assert record["outcome"] == "error" and record["status"] == 400
    again = call_gateway(emu.gateway_url, "echo", json.dumps({"text": "ok"}).encode(), timeout_s=30)
    assert again.status == 200  # the environment survived it
