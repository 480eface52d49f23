"""Incident response against the real local emulator, the whole story once per module.

A small agent (tests/helpers/agent_fixtures) runs in the emulator (moto in a child process,
version workers running the real bundle, the alarm evaluator, the rollout engine) with a scaled
clock. Its alerts page through PagerDuty Events v2 and chat through a Slack webhook, both pointed
at a stdlib HTTP receiver on 127.0.0.1. The story: nothing deployed yet (no errors, nothing to
roll back), v1 healthy, v2 with an injected 100 % error rate rolled back by its alarms; then
errors, replay against the stable version, debug, logs and alerts through `Pipeline` and the CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployer.errors import DeployerError
from deployer.pipeline import Pipeline
from tests.helpers.agent_fixtures import forget_modules, write_project
from tests.helpers.receivers import Receiver
from tests.helpers.waiting import wait_until

DEPLOYER = str(Path(sys.executable).parent / "deployer")
ROOT = Path(__file__).resolve().parents[2]
PY = f"{sys.version_info.major}.{sys.version_info.minor}"  # the workers run this interpreter

SPEC = """\
name: ops-agent
description: The operations test agent.
code:
  path: code
  entrypoint: fixture_agent:FixtureAgent
  artifacts: [model/keywords.json]
runtime: {{python: "{python}", memory_mb: 512, timeout: 10s}}
model: {{provider: python, id: fixture_model:load, pricing: {{input_per_1k: 0.5, output_per_1k: 1.5}}}}
actions:
  echo: {{timeout: 2s}}
  classify: {{timeout: 2s}}
monitoring: {{sample_rate: 1.0}}
slos: {{error_rate_pct: 1, latency_p99_ms: 1000, min_samples: 10}}
alerts:
  error_rate_spike: {{kind: error_rate, threshold: 2, window: 60s, action: [page, chat]}}
notifications:
  page: {{type: pagerduty, routing_key: "ssm:/ops-agent/pagerduty-key"}}
  chat: {{type: slack, webhook_url: "secretsmanager:ops-agent/slack"}}
rollout: {{strategy: canary, initial_percent: 20, bake: 5m}}
environments:
  local:
    target: local
    expected_traffic: {{requests_per_day: 1000}}
    notifications:
      page: {{type: pagerduty, routing_key: "ssm:/ops-agent/pagerduty-key", url: "{receiver}/v2/enqueue"}}
      chat: {{type: slack, webhook_url: "{receiver}/slack"}}
"""


def settle(pipeline: Pipeline, timeout_s: float = 20.0) -> None:
    """Wait until the emulator has written the request records (its writes are asynchronous)."""
    deadline = time.monotonic() + timeout_s
    seen = -1
    while time.monotonic() < deadline:
        count = len(pipeline.inspect_errors("local", limit=1000)) + len(pipeline.logs("local", limit=1000))
        if count == seen and count > 0:
            return
        seen = count
        time.sleep(0.5)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from deployer.local import Emulator
    from deployer.local.front.discovery import state_dir_for

    receiver = Receiver()
    root = tmp_path_factory.mktemp("ops-agent")
    spec = write_project(root, python=PY)
    spec.write_text(SPEC.format(python=PY, receiver=receiver.url))
    forget_modules()
    pipeline = Pipeline.from_spec(spec)
    model = pipeline.model("local")
    out: dict[str, Any] = {"spec": spec, "receiver": receiver, "pipeline": pipeline}
    with Emulator(model, state_dir=state_dir_for(spec), time_scale=60, advertise=True) as emu:
        pipeline.emulator = emu
        out["emulator"] = emu
        out["errors_before_deploy"] = pipeline.inspect_errors("local")
        v1 = pipeline.deploy("local")
        try:
            pipeline.rollback("local", reason="nothing to go back to")
        except DeployerError as exc:
            out["rollback_without_previous"] = exc
        for i in range(10):
            emu.invoke("echo", {"text": f"fine {i}"})
        v2 = pipeline.deploy("local", faults={"error_rate": 1.0})
        out["versions"] = (v1["version"], v2["version"])
        deadline = time.monotonic() + 60
        sent = 0
        while time.monotonic() < deadline and (pipeline.rollout("local") or {}).get("status") == "in_progress":
            emu.invoke("echo", {"text": f"during canary {sent}"})
            sent += 1
            time.sleep(0.02)
        out["rollout"] = pipeline.rollout("local")
        # The canary's share of traffic before its rollback is a weighted draw; two requests pinned
        # to version 2 (a caller using the version qualifier) make its failures at least three.
        for i in range(2):
            emu.invoke("echo", {"text": f"pinned {i}"}, version=v2["version"])
        settle(pipeline)
        yield out
    receiver.close()


def test_no_errors_before_anything_is_deployed(story: dict[str, Any]) -> None:
    assert story["errors_before_deploy"] == []


def test_rollback_with_no_previous_version_says_there_is_none(story: dict[str, Any]) -> None:
    error = story["rollback_without_previous"]
    assert "no previous version to roll back to" in error.message
    assert "version 1 is the only one deployed" in error.message


def test_the_faulty_canary_was_rolled_back_by_its_alarms(story: dict[str, Any]) -> None:
    assert story["versions"] == ("1", "2")
    rollout = story["rollout"]
    assert rollout["version"] == "2" and rollout["status"] == "rolled_back", rollout
    assert "ALARM" in rollout["reason"]


def test_errors_lists_the_faulty_versions_failures_with_their_input(story: dict[str, Any]) -> None:
    failures = story["pipeline"].inspect_errors("local", limit=100)
    assert failures, "the faulty canary served failures"
    assert {f.version for f in failures} == {"2"}
    assert [f.ts_ms for f in failures] == sorted((f.ts_ms for f in failures), reverse=True)
    first = failures[0]
    assert first.status >= 500 and first.error_type and first.has_input
    assert first.input["text"].startswith(("during canary", "pinned"))
    assert any(f.input["text"].startswith("during canary") for f in failures if f.has_input)  # routed by weight
    assert story["pipeline"].inspect_errors("local", version="1") == []


def test_replay_against_stable_succeeds_and_is_marked_as_a_replay(story: dict[str, Any]) -> None:
    pipeline: Pipeline = story["pipeline"]
    failure = pipeline.inspect_errors("local", limit=1)[0]
    result = pipeline.replay_request("local", request_id=failure.request_id, against="stable")
    assert result.new.version == "1" and result.new.ok and not result.original.ok
    assert result.new.output == {"text": failure.input["text"]}
    assert result.changed is True
    assert result.new.latency_ms is not None and result.new.cost_usd is not None
    replayed = wait_until(lambda: pipeline.target("local").requests().get(str(result.new.request_id)))
    assert replayed is not None and replayed["replay"] == {"BOOL": True}
    # its metrics went to the replay namespace, never to the one the canary's alarms watch
    cloudwatch = pipeline.target("local").endpoint.client("cloudwatch")
    assert wait_until(lambda: cloudwatch.list_metrics(Namespace="Deployer/Replay")["Metrics"], timeout_s=15)


def test_replay_of_an_unknown_request_id_says_the_emulator_never_recorded_it(story: dict[str, Any]) -> None:
    with pytest.raises(DeployerError) as caught:
        story["pipeline"].replay_request("local", request_id="req_xyz")
    assert caught.value.message.startswith("no request with id req_xyz: the emulator never recorded a request req_xyz")


def test_errors_and_replay_default_to_the_environment_the_emulator_serves(story: dict[str, Any]) -> None:
    pipeline: Pipeline = story["pipeline"]
    failures = pipeline.inspect_errors(limit=3)
    assert failures and [f.request_id for f in failures] == [f.request_id for f in pipeline.inspect_errors("local", limit=3)]
    replayed = pipeline.replay_request(request_id=failures[0].request_id)
    assert replayed.new.version == "1" and replayed.new.ok


def test_rollback_after_the_automatic_rollback_names_every_deployed_version(story: dict[str, Any]) -> None:
    with pytest.raises(DeployerError) as caught:
        story["pipeline"].rollback("local", reason="once more")
    assert caught.value.message == ("no previous version to roll back to: all traffic is already on version 1, the "
                                    "oldest of the versions deployed in 'local' (1, 2)")


def test_status_and_debug_count_the_same_requests(story: dict[str, Any]) -> None:
    pipeline: Pipeline = story["pipeline"]
    report = pipeline.debug("local")
    counts = {v["version"]: (v["requests"], v["errors"]) for v in pipeline.status("local")["versions"]}
    assert counts["2"] == (report["current"]["requests"], report["current"]["errors"])
    assert counts["1"] == (report["previous"]["requests"], report["previous"]["errors"])
    people = cli(story, "status")
    assert people.returncode == 0, people.stderr
    assert "rollout of v2 (from v1): rolled_back" in people.stdout and "vNone" not in people.stdout


def test_replay_against_canary_after_the_rollback_says_there_is_none(story: dict[str, Any]) -> None:
    failure = story["pipeline"].inspect_errors("local", limit=1)[0]
    with pytest.raises(DeployerError, match="no canary"):
        story["pipeline"].replay_request("local", request_id=failure.request_id, against="canary")


def test_replay_last_errors_summarises_the_batch(story: dict[str, Any]) -> None:
    # How many requests the canary served before its rollback depends on the weighted draw.
    failed = len(story["pipeline"].inspect_errors("local", limit=10))
    assert failed >= 1
    n = min(3, failed)
    batch = story["pipeline"].replay_last("local", n, errors_only=True)
    summary = batch.summary()
    assert summary["replayed"] == n and summary["now_succeed"] == n and summary["fail"] == 0
    assert summary["fixed"] == n and summary["changed"] == n and batch.version == "1"


def test_debug_compares_the_rolled_back_version_with_the_live_one(story: dict[str, Any]) -> None:
    report = story["pipeline"].debug("local")
    assert report["routing"] == [{"version": "1", "weight": 1.0, "role": "stable"}]
    assert report["rollout"]["status"] == "rolled_back"
    assert {a["name"] for a in report["alarms"]} >= {"error_rate_spike"}
    cur, prev = report["current"], report["previous"]
    assert (cur["version"], report["current_role"], prev["version"]) == ("2", "rolled back", "1")
    assert cur["error_rate_pct"] == 100.0 and prev["errors"] == 0 and prev["requests"] >= 10
    assert cur["deploy"]["faults"] == {"error_rate": 1.0}
    assert report["code_changed"] is False  # a config-only change: same bundle, new version
    assert any("rolled back" in f for f in report["findings"])
    assert any("injected faults" in f for f in report["findings"])
    assert any(f.startswith("error rate: 0% (v1) -> 100% (v2)") for f in report["findings"]), report["findings"]


def test_logs_shows_the_request_lines_filtered(story: dict[str, Any]) -> None:
    lines = story["pipeline"].logs("local", "outcome=error", "version=2", limit=5)
    assert lines and all(line.record and line.record["outcome"] == "error" for line in lines)
    assert all(line.record and line.record["version"] == "2" for line in lines)


def test_the_page_reached_the_receiver_as_a_pagerduty_event(story: dict[str, Any]) -> None:
    pages = story["receiver"].wait_for("/v2/enqueue")
    trigger = next(p for p in pages if p["event_action"] == "trigger")
    assert trigger["routing_key"] == "ssm:/ops-agent/pagerduty-key"
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "ops-agent/local/error_rate_spike"
    payload = trigger["payload"]
    assert payload["summary"] == "ALARM: error_rate_spike on ops-agent (local)"
    assert payload["severity"] == "critical"
    assert payload["source"] == "deployer-emulator/ops-agent/local"
    assert payload["component"] == "ops-agent" and payload["group"] == "local"
    details = payload["custom_details"]
    # the alert watches every version: it says which ones served the requests it judged, and how much
    assert details["alarm"] == "error_rate_spike" and details["state"] == "ALARM"
    assert re.fullmatch(r"1 \(\d+ %\), 2 \(\d+ %\)", details["version"]), details["version"]
    assert "Threshold Crossed" in details["reason"]


def test_the_rollback_paged_the_targets_of_the_gating_alert(story: dict[str, Any]) -> None:
    pages = story["receiver"].wait_for("/v2/enqueue")
    rollout = next(p for p in pages if p["dedup_key"] == "ops-agent/local/rollout")
    assert rollout["event_action"] == "trigger"
    assert rollout["payload"]["summary"] == "Rollout of version 2 rolled back"
    assert "in ALARM" in rollout["payload"]["custom_details"]["message"]


def test_the_chat_message_reached_the_receiver_as_a_slack_webhook(story: dict[str, Any]) -> None:
    messages = story["receiver"].wait_for("/slack")
    alarm = next(m for m in messages if "ALARM" in m["text"])
    assert alarm["text"] == ":rotating_light: ALARM: error_rate_spike on ops-agent (local)"
    section, context = alarm["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith("*ALARM: error_rate_spike on ops-agent (local)*\n")
    assert context["type"] == "context" and re.search(r"version 1 \(\d+ %\), 2 \(\d+ %\)", context["elements"][0]["text"])


def test_alerts_lists_the_deliveries(story: dict[str, Any]) -> None:
    alerts = story["pipeline"].alerts("local")
    delivered = [a for a in alerts if a.get("alarm") == "error_rate_spike" and a.get("state") == "ALARM"]
    assert {a["target"] for a in delivered} == {"page", "chat"}
    assert all(a["delivery"]["delivered"] for a in delivered)


def cli(story: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("AWS_ENDPOINT_URL", None)
    return subprocess.run([DEPLOYER, *args, "--spec", str(story["spec"]), "--env", "local"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_errors_replay_debug_and_logs_find_the_running_emulator(story: dict[str, Any]) -> None:
    listed = cli(story, "errors", "--limit", "2", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["count"] == 2 and all(e["version"] == "2" for e in data["errors"])
    request_id = data["errors"][0]["request_id"]
    table = cli(story, "errors", "--limit", "2")
    assert table.returncode == 0 and request_id in table.stdout
    replayed = cli(story, "replay", request_id, "--against", "stable")
    assert replayed.returncode == 0, replayed.stderr
    assert "the output changed" in replayed.stdout and "now succeeds" in replayed.stdout
    as_json = json.loads(cli(story, "replay", request_id, "--version", "1", "--json").stdout)
    assert as_json["replay"]["version"] == "1" and as_json["changed"] is True
    batch = cli(story, "replay", "--last", "2", "--errors")
    assert batch.returncode == 0 and "2 replayed: 2 now succeed, 0 fail, 2 changed" in batch.stdout
    debug = cli(story, "debug")
    assert debug.returncode == 0 and "error_rate_spike" in debug.stdout
    logs = cli(story, "logs", "--filter", "outcome=error", "--limit", "3", "--json")
    assert logs.returncode == 0, logs.stderr
    assert all(json.loads(line)["outcome"] == "error" for line in logs.stdout.splitlines())
    unknown = cli(story, "replay", "nope")
    assert unknown.returncode == 1 and "no request with id nope" in unknown.stderr


def test_pipeline_invoke_and_status_go_through_the_emulator(story: dict[str, Any]) -> None:
    pipeline: Pipeline = story["pipeline"]
    result = pipeline.invoke("echo", {"text": "hello"}, env="local")
    assert result.ok and result.version == "1" and result.output == {"text": "hello"}  # type: ignore[union-attr]
    status = pipeline.status("local")
    assert status["routing"] == {"primary": "1", "additional": {}}
    assert status["rollout"]["status"] == "rolled_back"


def test_the_pipeline_example_in_the_operations_guide_runs(tmp_path: Path) -> None:
    """docs/operations.md's example, run as written, on the test agent instead of the flagship."""
    text = (ROOT / "docs" / "operations.md").read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    receiver = Receiver()
    try:
        spec = write_project(tmp_path, python=PY)
        spec.write_text(SPEC.format(python=PY, receiver=receiver.url))
        script = (example.replace('"agent.yaml"', repr(str(spec)))
                  .replace('"route", {"message":', '"echo", {"text":'))
        assert script != example
        env = {**os.environ}
        env.pop("AWS_ENDPOINT_URL", None)
        env["PYTHONPATH"] = str(ROOT)
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env=env)
    finally:
        receiver.close()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "in ALARM" in done.stdout and "now succeeds: True output changed: True" in done.stdout


def load_test_project(tmp_path: Path) -> tuple[Pipeline, Path]:
    """The test agent with a file of 20 load-test inputs."""
    spec = write_project(tmp_path, python=PY)
    spec.write_text(SPEC.format(python=PY, receiver="http://127.0.0.1:9"))
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"text": f"ticket {i}"}) + "\n" for i in range(20)))
    forget_modules()
    return Pipeline(spec), inputs


def test_pipeline_run_load_test_drives_the_emulator_and_judges_the_slos(tmp_path: Path) -> None:
    from deployer.local import Emulator

    pipeline, inputs = load_test_project(tmp_path)
    with Emulator(pipeline.model("local"), state_dir=tmp_path / ".deployer" / "local", time_scale=60) as emu:
        pipeline.emulator = emu
        pipeline.deploy("local")
        result = pipeline.run_load_test("local", rps=5, duration_s=2, users=2, input_file=str(inputs),
                                        report_dir=str(tmp_path / "report"))
    assert result.figures.requests >= 8 and result.figures.failed == 0
    assert result.passed
    assert (tmp_path / "report" / "report.json").is_file()


def test_pipeline_run_load_test_takes_a_load_test_value_for_the_environment_it_deployed(tmp_path: Path) -> None:
    from deployer.local import Emulator
    from deployer.pipeline import LoadTest

    pipeline, inputs = load_test_project(tmp_path)
    with Emulator(pipeline.model("local"), state_dir=tmp_path / ".deployer" / "local", time_scale=60) as emu:
        pipeline.emulator = emu
        pipeline.deploy("local")
        load_test = LoadTest(requests_per_second=5, duration_seconds=2, input_distribution="realistic", users=2,
                             input_file=str(inputs))
        result = pipeline.run_load_test(load_test, report_dir=str(tmp_path / "report"))
    assert result.plan.rps == 5 and result.plan.duration_s == 2 and result.plan.model.environment == "local"
    assert result.figures.requests >= 8 and result.figures.failed == 0
