"""The gateway under hostile HTTP: framing, limits and slow clients, each answered and on the record.

Raw bytes over sockets on 127.0.0.1 to a real emulator (echo bundle) whose gateway has short read and
idle timeouts, so slow clients are cut off in a fraction of a second. The statuses are those of a
Function URL (Lambda's Invoke API errors: 413 `RequestTooLargeException`, 429
`TooManyRequestsException`, 400 for a request it cannot read) and RFC 9110/6585 where AWS documents
none (408 for a request that does not arrive in time, 431 for too many or too large headers).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from deployer.local import Emulator
from deployer.local.bundles.http11 import HttpLimits
from deployer.local.bundles.testkit import build_echo_bundle
from tests.helpers.raw_http import RawResponse, exchange, request
from tests.helpers.receivers import flagship_local
from tests.helpers.waiting import wait_until

LIMITS = HttpLimits(read_timeout_s=0.5, idle_timeout_s=1.0, write_timeout_s=2.0, max_connections=400)
BODY = json.dumps({"message": "hi"}).encode()


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    model = flagship_local()
    with Emulator(model, state_dir=tmp_path_factory.mktemp("gateway"), bundle_builder=build_echo_bundle,
                  gateway_limits=LIMITS) as emulator:
        emulator.deploy()
        yield emulator


def address(emu: Emulator) -> tuple[str, int]:
    host, port = emu.gateway_url.removeprefix("http://").split(":")
    return host, int(port)


def recorded(emu: Emulator, answer: RawResponse) -> dict[str, Any]:
    """The request record the gateway wrote for `answer` (its `x-amzn-requestid`)."""
    request_id = answer.headers["x-amzn-requestid"]
    return next(json.loads(line) for line in emu.logs(100_000)
                if line.startswith('{"event": "request"') and request_id in line)


def test_a_well_formed_request_and_a_pipelined_pair_are_answered(emu):
    ok = exchange(address(emu), [request("POST", "/route", BODY)])
    assert ok is not None and ok.status == 200 and json.loads(ok.body)["echo"] == {"message": "hi"}
    with socket.create_connection(address(emu), timeout=10) as sock:
        sock.sendall(request("POST", "/a", BODY) + request("POST", "/b", BODY))
        data = b""
        while data.count(b"HTTP/1.1 200") < 2:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    assert b'"action": "a"' in data and b'"action": "b"' in data


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "5, 6", " "])
def test_a_bad_content_length_gets_400_on_the_record(emu, length):
    answer = exchange(address(emu), [request("POST", "/route", BODY, {"content-length": length})])
    assert answer is not None and answer.status == 400, answer
    assert answer.headers.get("connection") == "close"
    record = recorded(emu, answer)
    assert (record["outcome"], record["status"], record["error_type"]) == ("error", 400, "MalformedHttpRequest")


def test_a_declared_body_over_6_mb_gets_413_before_it_is_read(emu):
    head = request("POST", "/route", b"", {"content-length": str(20 * 1024 * 1024)})
    answer = exchange(address(emu), [head])  # the 20 MB never sent: the answer comes from the header alone
    assert answer is not None and answer.status == 413
    assert json.loads(answer.body)["message"].startswith("Request must be smaller than 6291456 bytes")
    assert recorded(emu, answer)["error_type"] == "RequestTooLargeException"


def test_a_chunked_body_is_decoded_and_one_over_6_mb_gets_413(emu):
    chunked = {"transfer-encoding": "chunked"}
    head = request("POST", "/route", b"", chunked).replace(b"content-length: 0\r\n", b"")
    small = exchange(address(emu), [head, b"5\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"])
    assert small is not None and small.status == 200 and json.loads(small.body)["echo"] == {"a": 1}
    piece = b"x" * (1024 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    big = exchange(address(emu), [head, *([chunk] * 7)])
    assert big is not None and big.status == 413


def test_a_short_body_under_a_large_content_length_gets_408_instead_of_a_hung_thread(emu):
    answer = exchange(address(emu), [request("POST", "/route", b"{}", {"content-length": "1000"})])
    assert answer is not None and answer.status == 408
    assert recorded(emu, answer)["error_type"] == "RequestTimeout"


def test_too_many_or_too_large_headers_get_431(emu):
    many = {f"x-h{i}": "v" for i in range(150)}
    answer = exchange(address(emu), [request("POST", "/route", BODY, many)])
    assert answer is not None and answer.status == 431
    large = exchange(address(emu), [request("POST", "/route", BODY, {"x-big": "a" * 20_000})])
    assert large is not None and large.status == 431


@pytest.mark.parametrize("garbage", [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),  # a TLS hello
                                     b"GET\r\n\r\n", b"POST /route HTTP/9.9\r\n\r\n", b"\r\n\r\n\r\n",
                                     b"POST /route HTTP/1.1\r\nbad header line\r\n\r\n"])
def test_garbage_framing_gets_400_or_a_clean_close_and_the_gateway_keeps_serving(emu, garbage):
    answer = exchange(address(emu), [garbage])
    assert answer is None or answer.status in (400, 505), answer
    ok = exchange(address(emu), [request("POST", "/route", BODY)])
    assert ok is not None and ok.status == 200


def test_slowloris_connections_are_cut_off_and_normal_traffic_goes_on(emu):
    server = emu._gateway.server
    socks = [socket.create_connection(address(emu), timeout=10) for _ in range(200)]
    try:
        for sock in socks:  # a request head that never ends
            sock.sendall(b"POST /route HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: 1\r\n")
        ok = exchange(address(emu), [request("POST", "/route", BODY)])
        assert ok is not None and ok.status == 200  # served while 200 slow clients hold connections
        wait_until(lambda: server.connections == 0)  # every one timed out: nothing held open
        answers = []
        for sock in socks:
            data = sock.recv(65536)
            answers.append(data.split(b" ", 2)[1] if data else b"closed")
        assert set(answers) == {b"408"}
    finally:
        for sock in socks:
            sock.close()


def test_an_idle_keep_alive_connection_is_closed_and_slow_writers_are_served(emu):
    server = emu._gateway.server
    with socket.create_connection(address(emu), timeout=10) as idle:
        wait_until(lambda: server.connections >= 1)
        assert idle.recv(1) == b""  # closed by the server after idle_timeout_s, nothing sent
    data = request("POST", "/route", BODY)
    slow = exchange(address(emu), [data[i:i + 16] for i in range(0, len(data), 16)], pause_s=0.01)
    assert slow is not None and slow.status == 200  # a slow writer within the read timeout is served


def test_concurrent_bad_and_good_clients_all_get_an_answer(emu):
    results: list[int | None] = []

    def one(i: int) -> None:
        pieces = [request("POST", "/route", BODY)] if i % 2 else [request("POST", "/r", BODY, {"content-length": "x"})]
        answer = exchange(address(emu), pieces)
        results.append(answer.status if answer else None)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results, key=str) == sorted([200] * 20 + [400] * 20, key=str)
