"""What a request record says about the input: the value the client sent, whatever parser reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.actions import logged_input
from handlers.events import Request

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types and key order (1 == 1.0 == True in Python, not in a log line)."""
    return json.dumps(a) == json.dumps(b) and repr(a) == repr(b)


@settings(max_examples=400, deadline=None)
@given(value=_JSON, spaced=st.booleans(), as_bytes=st.booleans())
def test_the_logged_input_is_what_json_loads_reads(value: Any, spaced: bool, as_bytes: bool) -> None:
    text = json.dumps(value, ensure_ascii=False) if spaced else json.dumps(value, separators=(",", ":"))
    request = Request("route", True, body=text.encode() if as_bytes else text)
    assert _same(logged_input(request), request.input_for_log())


@pytest.mark.parametrize("body", [
    b'\xef\xbb\xbf{"a": 1}',  # a UTF-8 BOM: json.loads takes it from bytes, jiter does not
    '{"a": 1}'.encode("utf-16"),
    '{"a": "\\ud800"}',  # a lone surrogate escape
    "[" * 300 + "]" * 300,  # deeper than jiter's nesting limit
    '{"a": 1.0, "b": 1e400, "c": -0.0, "d": 123456789012345678901234567890, "a": 2}',
    "not json at all", b"\xff\xfe not json", "", "  ",
])
def test_texts_jiter_refuses_or_reads_differently_log_as_before(body: str | bytes) -> None:
    request = Request("route", True, body=body)
    assert _same(logged_input(request), request.input_for_log())


def test_a_direct_invoke_logs_its_input_object() -> None:
    assert logged_input(Request("route", False, data={"message": "hi"})) == {"message": "hi"}
    assert logged_input(Request("route", False)) is None
