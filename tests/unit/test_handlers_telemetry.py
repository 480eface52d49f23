"""The request-record log line and the EMF line: shape, validity, equivalence with structlog."""

from __future__ import annotations

import io
import json
import math

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.telemetry import METRICS, RequestReport, Telemetry, render_value
from tests.helpers.properties import examples

EMF_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}


def telemetry(stream: io.StringIO | None = None) -> Telemetry:
    return Telemetry(agent="router", environment="prod", namespace="Deployer", replay_namespace="Deployer/Replay",
                     stream=stream)


def report(**overrides: object) -> RequestReport:
    values: dict[str, object] = dict(
        request_id="r-1", ts_ms=1_700_000_000_123, action="route", version="7", status=200, latency_ms=12.5,
        input_tokens=10, output_tokens=3, cost_usd=0.00042, confidence=0.93, memory_mb=61.2,
        input_json='{"message": "hi"}', output_json='{"team": "cards"}',
    )
    values.update(overrides)
    return RequestReport(**values)  # type: ignore[arg-type]


def assert_valid_emf(doc: dict[str, object]) -> None:
    """The rules of the CloudWatch Embedded Metric Format specification."""
    aws = doc["_aws"]
    assert isinstance(aws, dict)
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 0
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert isinstance(directive["Namespace"], str) and 1 <= len(directive["Namespace"]) <= 255
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(doc[name], str), f"dimension {name} must be a string member of the root"
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert metric["Unit"] in EMF_UNITS
            value = doc[metric["Name"]]
            assert isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_emf_line_is_valid_and_carries_the_version_dimension() -> None:
    doc = json.loads(telemetry().emf_line(report()))
    assert_valid_emf(doc)
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Deployer"
    assert directive["Dimensions"] == [["Agent", "Environment", "Version"], ["Agent", "Environment"]]
    assert (doc["Agent"], doc["Environment"], doc["Version"]) == ("router", "prod", "7")
    names = [m["Name"] for m in directive["Metrics"]]
    assert names == [name for name, _ in METRICS] + ["ModelConfidence"]
    assert doc["Invocations"] == 1 and doc["Errors"] == 0 and doc["Latency"] == 12.5
    assert doc["CostUSD"] == 0.00042 and doc["ModelConfidence"] == 0.93 and doc["MemoryUsedMB"] == 61.2


def test_emf_omits_confidence_when_no_model_gave_one() -> None:
    doc = json.loads(telemetry().emf_line(report(confidence=None)))
    assert_valid_emf(doc)
    assert "ModelConfidence" not in doc
    assert "ModelConfidence" not in [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]


@pytest.mark.parametrize(("status", "errors", "client_errors"), [(200, 0, 0), (422, 0, 1), (404, 0, 1), (500, 1, 0), (504, 1, 0)])
def test_server_errors_count_as_errors_client_errors_apart(status: int, errors: int, client_errors: int) -> None:
    doc = json.loads(telemetry().emf_line(report(status=status)))
    assert (doc["Errors"], doc["ClientErrors"]) == (errors, client_errors)


def test_replays_go_to_the_replay_namespace() -> None:
    doc = json.loads(telemetry().emf_line(report(replay=True)))
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Deployer/Replay"
    assert json.loads(telemetry().log_line(report(replay=True)))["replay"] is True


def test_non_finite_numbers_never_make_invalid_json() -> None:
    line = telemetry().log_line(report(latency_ms=float("nan"), cost_usd=float("inf"), confidence=float("nan")))
    doc = json.loads(line)
    assert doc["latency_ms"] is None and doc["cost_usd"] is None and doc["confidence"] is None
    emf = json.loads(telemetry().emf_line(report(confidence=float("nan"))))
    assert "ModelConfidence" not in emf


def test_log_line_is_what_structlog_renders_for_the_same_event() -> None:
    line = telemetry().log_line(report(error_message='quote " and \\ and é'))
    ours = json.loads(line)
    event_dict = dict(ours)
    rendered = structlog.processors.JSONRenderer()(None, "info", event_dict)
    assert json.loads(rendered) == ours
    assert line == rendered  # same separators, same key order, same escaping


def test_log_line_fields() -> None:
    doc = json.loads(telemetry().log_line(report(status=500, error_type="ValueError", error_message="bad")))
    assert doc["event"] == "request" and doc["level"] == "error" and doc["outcome"] == "error"
    for key in ("request_id", "ts", "agent", "action", "version", "environment", "latency_ms", "input_tokens",
                "output_tokens", "cost_usd", "confidence", "memory_mb", "error_type", "error_message", "replay"):
        assert key in doc
    assert doc["input"] == {"message": "hi"}


def test_latency_is_left_out_of_the_record_when_log_latency_is_off() -> None:
    doc = json.loads(telemetry().log_line(report(log_latency=False)))
    assert "latency_ms" not in doc
    assert json.loads(telemetry().emf_line(report(log_latency=False)))["Latency"] == 12.5


def test_emit_writes_exactly_two_lines_in_one_write() -> None:
    stream = io.StringIO()
    log, emf = telemetry(stream).emit(report())
    assert stream.getvalue() == f"{log}\n{emf}\n"


def test_large_values_are_truncated_to_a_preview() -> None:
    text = render_value({"blob": "x" * 100}, limit=50)
    doc = json.loads(text)
    assert doc["truncated"] is True and doc["chars"] > 50


_KEYS = st.text(max_size=5) | st.integers() | st.floats() | st.booleans() | st.none()
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.decimals(allow_nan=False) | st.binary(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=15,
)


@settings(max_examples=examples(500), deadline=None)
@given(value=_VALUES)
def test_logged_values_render_as_json_dumps_renders_them(value: object) -> None:
    """The kept C encoder says what `json.dumps(..., ensure_ascii=False, default=str)` says, NaN and odd keys included."""
    assert render_value(value, limit=10**9) == json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
