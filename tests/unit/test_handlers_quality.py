"""The runtime's online quality signals: one EMF line per answered request when the spec asks for them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from handlers.config import RuntimeConfig
from handlers.runtime import Runtime
from tests.helpers.agent_fixtures import compile_project, forget_modules, write_project

QUALITY = {"field": "team", "labels": ["billing", "cards"], "low_confidence": True, "confidence_threshold": 0.7}


@pytest.fixture()
def runtime(tmp_path: Path) -> tuple[Runtime, io.StringIO]:
    forget_modules()
    model = compile_project(write_project(tmp_path))
    config = model.runtime_config()
    config["quality"] = QUALITY
    stream = io.StringIO()
    return Runtime(RuntimeConfig.from_dict(config, base_dir=tmp_path), stream=stream), stream


def emf_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if '"_aws"' in line]


def test_an_answer_adds_its_label_and_whether_it_was_confident(runtime: tuple[Runtime, io.StringIO]) -> None:
    rt, stream = runtime
    reply = rt.handle({"action": "classify", "input": {"text": "charge"}})
    assert reply["status"] == 200, reply
    quality = next(doc for doc in emf_lines(stream) if "Answers" in doc)
    directives = quality["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
    assert [d["Dimensions"] for d in directives] == [[["Agent", "Environment", "Version", "Label"]],
                                                     [["Agent", "Environment", "Version"]]]
    assert quality["Label"] in ("billing", "cards", "other") and quality["Answers"] == 1
    assert quality["LowConfidence"] in (0, 1)


def test_errors_and_replays_add_no_quality_signal(runtime: tuple[Runtime, io.StringIO]) -> None:
    rt, stream = runtime
    rt.handle({"action": "fail", "input": {"text": "x"}})
    rt.handle({"action": "classify", "input": {"text": "charge"}, "replay": True})
    assert not [doc for doc in emf_lines(stream) if "Answers" in doc or "LowConfidence" in doc]
