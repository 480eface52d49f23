"""The gateway's pure parts: Lambda's REPORT line, the memory figure, the headers it passes on, its failure records."""

from __future__ import annotations

import json
import socket
import threading
from multiprocessing.connection import Client, Connection, Listener

import pytest

from deployer.local.bundles import worker
from deployer.local.bundles.failures import FailureRecords, has_record
from deployer.local.bundles.gateway import _header_ok, _to_http, report_line
from deployer.local.bundles.processes import Channel
from deployer.local.bundles.worker import memory_of
from handlers.records import RECORD_LINE_START
from handlers.telemetry import Telemetry


def test_the_report_line_is_lambdas_with_init_duration_only_on_a_cold_start():
    warm = report_line("r-1", 12.341, 512, 130.4)
    assert warm == ("REPORT RequestId: r-1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 512 MB\t"
                    "Max Memory Used: 130 MB")
    cold = report_line("r-2", 0.2, 512, 130.6, init_ms=250.0)
    assert cold.endswith("Billed Duration: 1 ms\tMemory Size: 512 MB\tMax Memory Used: 131 MB\tInit Duration: 250.00 ms")
    timed_out = report_line("r-3", 1000.0, 128, 50, status="timeout", error_type="Sandbox.Timedout")
    assert timed_out.endswith("Status: timeout\tError Type: Sandbox.Timedout")


def test_memory_used_is_the_records_figure_when_the_handler_wrote_one():
    record = '{"event": "request", "request_id": "r", "memory_mb": 130.42578125, "status": 200}'
    assert memory_of(["hello", record], lambda: 999.0) == 130.42578125
    assert memory_of(["no record here"], lambda: 77.5) == 77.5
    assert memory_of(['{"event": "request", "memory_mb": null}'], lambda: 12.0) == 12.0
    # what the agent printed (a mention of a record, even one shaped like it) does not stand in for the record
    printed = ['debug {"event": "request", "memory_mb": 1}', '{"event": "request", "memory_mb": 2}']
    assert memory_of([*printed, record], lambda: 999.0) == 130.42578125
    assert memory_of(printed[:1], lambda: 77.5) == 77.5
    assert worker._RECORD_START == RECORD_LINE_START  # the worker imports nothing of ours: its copy must agree


@pytest.mark.parametrize(("name", "value", "ok"), [
    ("content-type", "application/json", True), ("x-custom", "a\tb", True),
    ("bad name", "v", False), ("x-split", "a\r\nset-cookie: evil", False), ("x-utf", "caf\u00e9", False),
    ("", "v", False), ("x(y)", "v", False),
])
def test_only_headers_http_can_carry_are_passed_on(name, value, ok):
    assert _header_ok(name, value) is ok


def test_a_function_result_that_is_not_a_response_is_a_502_like_a_function_urls():
    bad = _to_http({"ok": True, "result_json": json.dumps({"statusCode": "abc"})}, "1", "r", [], 0.0)
    assert bad.status == 502 and bad.error is not None and bad.error["type"] == "Runtime.InvalidResponse"
    plain = _to_http({"ok": True, "result_json": json.dumps([1, 2])}, "1", "r", [], 0.0)
    assert (plain.status, plain.body) == (200, b"[1, 2]")


def test_a_failure_record_is_the_runtimes_record_and_emf_line():
    records = FailureRecords(Telemetry(agent="a", environment="local", namespace="Deployer",
                                       replay_namespace="Deployer/Replay"))
    log, emf = records.lines(request_id="r-9", action="route", version="3", status=429,
                             error_type="TooManyRequestsException", message="Rate Exceeded")
    record, metrics = json.loads(log), json.loads(emf)
    assert (record["event"], record["outcome"], record["status"], record["version"], record["request_id"]) == \
        ("request", "error", 429, "3", "r-9")
    assert record["error_type"] == "TooManyRequestsException" and has_record([log])
    # what does not stand in for the record: a printed mention of one, a broken line
    mention = json.dumps({"debug": {"event": "request", "request_id": "r-9"}})
    assert not has_record([mention, log[:40], "[ERROR] Crash: boom"])
    assert (metrics["Version"], metrics["Invocations"], metrics["Errors"], metrics["ClientErrors"]) == ("3", 1, 0, 1)
    _, timeout_emf = records.lines(request_id="r-10", action="route", version="3", status=502,
                                   error_type="Sandbox.Timedout", message="Task timed out")
    assert json.loads(timeout_emf)["Errors"] == 1


def test_the_channel_speaks_multiprocessing_framing_and_times_out():
    listener = Listener(("127.0.0.1", 0), authkey=b"k" * 16)
    peer: list[Connection] = []
    thread = threading.Thread(target=lambda: peer.append(Client(listener.address, authkey=b"k" * 16)))
    thread.start()
    channel = Channel(listener.accept())
    thread.join()
    other = peer[0]
    channel.send(b"x" * 100_000)
    assert other.recv_bytes() == b"x" * 100_000
    other.send_bytes(b"reply")
    assert channel.recv(5.0) == b"reply"
    with pytest.raises(socket.timeout):
        channel.recv(0.05)
    other.close()
    with pytest.raises(EOFError):
        channel.recv(5.0)
    channel.close()
    listener.close()
