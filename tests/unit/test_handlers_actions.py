"""What a request record says about the input: the value the client sent, whatever parser reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.actions import logged_input, render_redacted
from handlers.events import Request
from handlers.redaction import BUILTIN_ORDER, Redactor
from handlers.telemetry import RENDER_LIMIT, render_value
from tests.helpers.properties import examples

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types and key order (1 == 1.0 == True in Python, not in a log line)."""
    return json.dumps(a) == json.dumps(b) and repr(a) == repr(b)


@settings(max_examples=examples(400), deadline=None)
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


_FIELD_NAMES = st.sampled_from(["message", "api_key", "X-API-KEY", "apikey", "note", "é"]) | st.text(max_size=5)
_STRINGS = st.sampled_from(["a@b.io", "call 555-123-4567", "Bearer abcdefgh1234", "plain", ""]) | st.text(max_size=12)
_OBJECTS = st.dictionaries(_FIELD_NAMES, _STRINGS, max_size=5) | st.dictionaries(_FIELD_NAMES, _JSON, max_size=3) | _JSON


@settings(max_examples=examples(400), deadline=None)
@given(value=_OBJECTS, builtins=st.sampled_from([(), ("email",), BUILTIN_ORDER]))
def test_rendering_a_redacted_object_of_strings_without_the_copy_says_the_same(value: Any, builtins: tuple[str, ...]) -> None:
    redactor = Redactor(builtins)
    assert render_redacted(value, redactor) == render_value(redactor.redact(value))


_ANSWERS = _OBJECTS | st.dictionaries(_FIELD_NAMES, st.datetimes() | st.decimals(allow_nan=False) | st.uuids() | _STRINGS,
                                       max_size=3) | st.lists(st.dates(), max_size=2)


@settings(max_examples=examples(400), deadline=None)
@given(value=_ANSWERS, builtins=st.sampled_from([(), BUILTIN_ORDER]))
def test_an_answer_is_logged_as_pydantic_makes_it_json_whether_or_not_it_is_converted(
    value: Any, builtins: tuple[str, ...],
) -> None:
    """An action's answer skips pydantic's conversion when it is an object of strings: same text."""
    from pydantic_core import to_jsonable_python

    redactor = Redactor(builtins)
    expected = render_value(redactor.redact(to_jsonable_python(value)))
    assert render_redacted(value, redactor, to_jsonable_python) == expected


def test_an_object_too_long_to_log_whole_is_still_a_preview() -> None:
    redactor = Redactor(("email",))
    value = {f"text{index}": "x" * 10_000 for index in range(RENDER_LIMIT // 10_000 + 1)}
    assert json.loads(render_redacted(value, redactor))["truncated"] is True


def test_a_body_nested_deeper_than_the_parsers_follow_is_answered_400_and_logged_as_text(tmp_path: Any) -> None:
    import io

    from handlers.config import RuntimeConfig
    from handlers.runtime import Runtime

    (tmp_path / "deep_agent.py").write_text(
        "from handlers import action, agent\n\n\nclass Fixed:\n    def predict(self, text):\n        return {\"text\": text}\n\n\n"
        "def load(artifacts_dir, parameters):\n    return Fixed()\n\n\n"
        "@agent\nclass Deep:\n    @action\n    def echo(self, text: str) -> str:\n        return text\n")
    monitoring = {"log_inputs": True, "log_outputs": True, "log_latency": True, "log_errors": True, "sample_rate": 1.0,
                  "redaction": {"builtins": ["email"], "patterns": []}}
    config = {"agent": "deep", "environment": "test", "code": {"root": str(tmp_path), "module": "deep_agent",
                                                                "class_name": "Deep"},
              "model": {"provider": "python", "model_id": "deep_agent:load"}, "actions": [{"name": "echo", "timeout_s": 5, "monitoring": monitoring}],
              "monitoring": monitoring}
    stream = io.StringIO()
    runtime = Runtime(RuntimeConfig.from_dict(config), stream=stream, environ={})
    deep = "[" * 100_000 + "]" * 100_000
    event = {"version": "2.0", "rawPath": "/echo", "headers": {}, "requestContext": {"http": {"method": "POST"}},
             "body": deep, "isBase64Encoded": False}
    answer = runtime.handle(event)
    assert answer["statusCode"] == 400
    record = json.loads(stream.getvalue().splitlines()[0])
    assert record["status"] == 400 and record["input"].startswith("[[[[")
    ok = runtime.handle({**event, "body": '{"text": "still here"}'})
    assert ok["statusCode"] == 200
