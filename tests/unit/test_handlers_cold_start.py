"""The request that loads the agent (a cold start) says so on its record, so version comparisons can
leave it out; under provisioned concurrency the load happens in init and no request is marked."""

from __future__ import annotations

import io
import json
from pathlib import Path

from handlers.config import RuntimeConfig
from handlers.runtime import Runtime
from tests.helpers.agent_fixtures import compile_project, forget_modules, write_project


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if '"event": "request"' in line]


def runtime(tmp_path: Path) -> tuple[Runtime, io.StringIO]:
    forget_modules()
    model = compile_project(write_project(tmp_path))
    stream = io.StringIO()
    return Runtime(RuntimeConfig.from_dict(model.runtime_config(), base_dir=tmp_path), stream=stream), stream


def test_only_the_request_that_loaded_the_agent_is_a_cold_start(tmp_path: Path) -> None:
    rt, stream = runtime(tmp_path)
    for _ in range(2):
        rt.handle({"action": "echo", "input": {"text": "hi"}})
    first, second = records(stream)
    assert first["cold_start"] is True and isinstance(first["init_ms"], float) and first["init_ms"] > 0
    assert "cold_start" not in second and "init_ms" not in second


def test_a_warmed_runtime_marks_no_request(tmp_path: Path) -> None:
    rt, stream = runtime(tmp_path)
    assert rt.warm() is None  # what init does under provisioned concurrency
    rt.handle({"action": "echo", "input": {"text": "hi"}})
    assert "cold_start" not in records(stream)[0]
