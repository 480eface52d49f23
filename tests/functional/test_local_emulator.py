"""The emulator end to end: real moto server, real HTTP, real worker processes.

The agent is the stand-in echo bundle (`deployer.local.bundles.testkit`), so these tests measure the
emulator and not an agent; tests/integration/test_local_drill.py also runs a real bundle.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError
from deployer.local import Emulator, Faults
from deployer.local.front.drill import TrafficDriver
from deployer.local.state.moto_state import client
from tests.helpers.emulators import SCALE, emulator, with_env
from tests.helpers.receivers import Receiver, flagship_local, with_receiver
from tests.helpers.rollouts import with_schedule
from tests.helpers.waiting import wait_until


@pytest.fixture(scope="module")
def base_model() -> DeploymentModel:
    return flagship_local()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def tuned(model: DeploymentModel, receiver: Receiver | None = None, *, bake_s: int = 300,
          min_requests: int = 0) -> DeploymentModel:
    if receiver is not None:
        model = with_receiver(model, receiver)
    return with_schedule(model, [(5.0, bake_s), (50.0, bake_s), (100.0, 0)], min_requests=min_requests)


def test_first_deploy_goes_live_at_once_and_boto3_sees_the_same_state(base_model, tmp_path):
    model = tuned(base_model)
    with emulator(model, tmp_path) as emu:
        result = emu.deploy()
        assert (result.version, result.created) == ("1", True)
        reply = emu.invoke("route", {"message": "card charged twice"})
        assert reply["status"] == 200 and reply["version"] == "1"
        assert reply["body"] == {"action": "route", "echo": {"message": "card charged twice"}}

        lam = client("lambda", emu.moto_endpoint, model.region)
        alias = lam.get_alias(FunctionName=model.function.name, Name=model.alias)
        assert alias["FunctionVersion"] == "1"
        cloudwatch = client("cloudwatch", emu.moto_endpoint, model.region)
        names = {a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]}
        assert {a.name for a in model.alarms} <= names
        dynamodb = client("dynamodb", emu.moto_endpoint, model.region)

        def items() -> list[dict[str, Any]]:
            return list(dynamodb.scan(TableName=model.request_log.table_name)["Items"])

        found = wait_until(lambda: [i for i in items() if i["outcome"]["S"] == "ok"])
        assert found[0]["version"]["S"] == "1" and "expires_at" in found[0]
        # the request-log table is the one the stack makes (both indexes: `errors` and `debug` read them)
        from deployer.aws.dynamodb import request_table_definition

        table = dynamodb.describe_table(TableName=model.request_log.table_name)["Table"]
        defined = request_table_definition(model.request_log.table_name)
        assert [(i["IndexName"], i["KeySchema"]) for i in table["GlobalSecondaryIndexes"]] == \
            [(i["IndexName"], i["KeySchema"]) for i in defined["GlobalSecondaryIndexes"]]
        by_version = dynamodb.query(TableName=model.request_log.table_name, IndexName="by_version",
                                    KeyConditionExpression="#v = :v", ExpressionAttributeNames={"#v": "version"},
                                    ExpressionAttributeValues={":v": {"S": "1"}})
        assert by_version["Items"]
        assert any(i["request_id"]["S"] == "deploy#local#1" for i in items())
        sns = client("sns", emu.moto_endpoint, model.region)
        topics = {t["TopicArn"].rsplit(":", 1)[1] for t in sns.list_topics()["Topics"]}
        assert {n.topic_name for n in model.notifications} <= topics


def test_config_only_change_publishes_a_new_version_and_no_change_does_not(base_model, tmp_path):
    model = tuned(base_model, bake_s=0)
    with emulator(model, tmp_path) as emu:
        assert emu.deploy().version == "1"
        again = emu.deploy()
        assert (again.version, again.created) == ("1", False) and "no changes" in again.message
        changed = emu.deploy(with_env(model, FEATURE_FLAG="on"), wait=True, timeout_s=30)
        assert (changed.version, changed.created) == ("2", True)
        record = emu.state.version("2")
        assert record is not None and record.environment["FEATURE_FLAG"] == "on"  # same agent code, new configuration
        lam = client("lambda", emu.moto_endpoint, model.region)
        config = lam.get_function_configuration(FunctionName=model.function.name, Qualifier="2")
        assert config["Environment"]["Variables"]["FEATURE_FLAG"] == "on"
        assert emu.status()["routing"] == {"primary": "2", "additional": {}}
        faulty = emu.deploy(with_env(model, FEATURE_FLAG="on"), faults=Faults(latency_ms=1))
        assert (faulty.version, faulty.created) == ("3", True)  # fault variables are configuration too


def test_two_deploys_in_a_row_the_second_waits_for_the_first(base_model, tmp_path):
    model = tuned(base_model, bake_s=120)
    with emulator(model, tmp_path) as emu:
        emu.deploy()
        emu.deploy(with_env(model, RELEASE="2"))
        with pytest.raises(DeployerError, match="rollout of version 2 is in progress"):
            emu.deploy(with_env(model, RELEASE="3"))
        rollout = emu.wait_for_rollout(timeout_s=30)
        assert rollout is not None and rollout["status"] == "succeeded"
        third = emu.deploy(with_env(model, RELEASE="3"), wait=True, timeout_s=30)
        assert third.version == "3" and third.rollout is not None and third.rollout["stable_version"] == "2"
        assert emu.status()["routing"] == {"primary": "3", "additional": {}}
        shifts = [e for e in emu.timeline() if e["kind"] == "shift" and e["version"] == "3"]
        assert [e["percent"] for e in shifts] == [5.0, 50.0, 100.0]


def test_rollback_during_a_rollout_stops_it_and_restores_the_stable_version(base_model, tmp_path):
    model = tuned(base_model, bake_s=3600)
    with emulator(model, tmp_path) as emu:
        emu.deploy()
        emu.deploy(with_env(model, RELEASE="2"))
        wait_until(lambda: emu.status()["routing"]["additional"] == {"2": 0.05})
        result = emu.rollback(reason="customer reports", who="tester")
        assert result["version"] == "1" and result["stopped_rollout"] == "2"
        status = emu.status()
        assert status["routing"] == {"primary": "1", "additional": {}}
        assert status["rollout"]["status"] == "rolled_back" and "customer reports (by tester)" in status["rollout"]["reason"]
        lam = client("lambda", emu.moto_endpoint, model.region)
        alias = lam.get_alias(FunctionName=model.function.name, Name=model.alias)
        assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")


def test_rollback_after_a_rollout_returns_to_the_previous_stable_version(base_model, tmp_path):
    model = tuned(base_model, bake_s=0)
    with emulator(model, tmp_path) as emu:
        emu.deploy()
        with pytest.raises(DeployerError, match="no previous version to roll back to"):
            emu.rollback()
        emu.deploy(with_env(model, RELEASE="2"), wait=True, timeout_s=30)
        result = emu.rollback(reason="bad answers")
        assert (result["version"], result["previous"]) == ("1", "2")
        assert emu.status()["routing"] == {"primary": "1", "additional": {}}
        with pytest.raises(DeployerError, match="no version 9"):
            emu.rollback(to_version="9")


def test_restart_mid_rollout_rolls_back_explicitly(base_model, tmp_path, receiver):
    model = tuned(base_model, receiver, bake_s=3600)
    model = replace(model, rollout=replace(model.rollout, notify=("slack_notification",)))
    with emulator(model, tmp_path) as emu:
        emu.deploy()
        emu.deploy(with_env(model, RELEASE="2"))
        wait_until(lambda: emu.status()["routing"]["additional"] == {"2": 0.05})
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["rollout"]["status"] == "in_progress" and saved["additional"] == {"2": 0.05}

    with emulator(model, tmp_path) as again:
        assert again.restart_notice is not None and "rolled back to version 1 on restart" in again.restart_notice
        status = again.status()
        assert status["routing"] == {"primary": "1", "additional": {}}
        assert status["rollout"]["status"] == "rolled_back"
        lam = client("lambda", again.moto_endpoint, model.region)  # a fresh moto, rebuilt from the state
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=model.function.name)["Versions"]]
        assert versions == ["$LATEST", "1", "2"]
        alias = lam.get_alias(FunctionName=model.function.name, Name=model.alias)
        assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
        assert again.invoke("route", {"message": "hi"})["version"] == "1"
        assert any(e["kind"] == "restart" for e in again.timeline())
        again.notifier.flush()
        assert any(a["event"] == "rollout" and "rolled back on restart" in a["subject"] for a in again.alerts())


def test_restart_mid_rollout_can_resume_from_the_step(base_model, tmp_path):
    model = tuned(base_model, bake_s=3600)
    with emulator(model, tmp_path) as emu:
        emu.deploy()
        emu.deploy(with_env(model, RELEASE="2"))
        wait_until(lambda: emu.status()["routing"]["additional"] == {"2": 0.05})
    with emulator(model, tmp_path, on_restart="resume") as again:
        assert again.restart_notice is not None and "resuming" in again.restart_notice
        status = again.status()
        assert status["rollout"]["status"] == "in_progress" and status["routing"]["additional"] == {"2": 0.05}
        again.rollback(reason="done testing")
        assert again.status()["routing"] == {"primary": "1", "additional": {}}


def test_a_faulty_canary_is_rolled_back_by_its_alarm_and_pages(base_model, tmp_path, receiver):
    model = tuned(base_model, receiver, bake_s=300)
    with emulator(model, tmp_path, time_scale=120) as emu:
        emu.deploy()
        driver = TrafficDriver(emu.gateway_url, "route", [{"message": "hello"}], rps=300, max_wall_s=30)
        driver.start()
        try:
            emu.deploy(faults=Faults(error_rate=0.5))
            rollout = emu.wait_for_rollout(timeout_s=30)
        finally:
            driver.stop()
        assert rollout is not None and rollout["status"] == "rolled_back"
        assert "abort-error-rate" in rollout["reason"] or "error_rate_spike" in rollout["reason"]
        assert emu.status()["routing"] == {"primary": "1", "additional": {}}
        emu.notifier.flush()
        pages = [body for path, body in receiver.received if path == "/pagerduty"]
        page = next((p for p in pages if p["dedup_key"] == "support-router/local/rollout"), None)
        assert page is not None, receiver.received  # the rollout's outcome pages the on-call (rollout.notify)
        assert page["event_action"] == "trigger"
        assert page["routing_key"] == "ssm:/support-router/pagerduty-routing-key"
        payload = page["payload"]
        assert payload["severity"] == "critical" and payload["source"] == "deployer-emulator/support-router/local"
        assert payload["summary"] == "Rollout of version 2 rolled back"
        assert payload["custom_details"]["version"] == "2" and payload["custom_details"]["state"] == "ROLLED_BACK"
        assert "abort-error-rate" in payload["custom_details"]["message"]
        assert payload["timestamp"].endswith("Z") and payload["component"] == "support-router"
        assert any(a["delivery"]["delivered"] and a["sns_message_id"] for a in emu.alerts())

        cloudwatch = client("cloudwatch", emu.moto_endpoint, model.region)

        def resolved() -> bool:  # v2 gets no more traffic: its gating alarm returns to OK; any alarm page resolves
            found = cloudwatch.describe_alarms(AlarmNames=["abort-error-rate"])["MetricAlarms"][0]
            emu.notifier.flush()
            sent = [b for p, b in receiver.received if p == "/pagerduty" and not b["dedup_key"].endswith("/rollout")]
            open_pages = {b["dedup_key"] for b in sent if b["event_action"] == "trigger"} - {
                b["dedup_key"] for b in sent if b["event_action"] == "resolve"}
            return found["StateValue"] == "OK" and found["StateReason"].startswith("Threshold Crossed") and not open_pages

        wait_until(resolved, timeout_s=15)
        stats = cloudwatch.get_metric_statistics(
            Namespace="Deployer", MetricName="Invocations", StartTime=time.time() - 7200, EndTime=time.time() + 7200,
            Period=60, Statistics=["Sum"],
            Dimensions=[{"Name": "Agent", "Value": "support-router"}, {"Name": "Environment", "Value": "local"},
                        {"Name": "Version", "Value": "2"}])
        assert sum(d["Sum"] for d in stats["Datapoints"]) > 0  # the EMF metrics are in moto CloudWatch too
        counters = emu.runtime.counters("2")
        assert counters.requests > 0 and counters.errors > 0


def test_gateway_builds_function_url_events_and_maps_errors(base_model, tmp_path):
    def build(model: DeploymentModel, out: Path) -> Path:
        (out / "handlers").mkdir(parents=True)
        (out / "handlers" / "__init__.py").write_text("")
        (out / "handlers" / "runtime.py").write_text(
            "import json\n"
            "def handler(event, context):\n"
            "    if event['rawPath'] == '/boom':\n"
            "        raise RuntimeError('boom')\n"
            "    if event['rawPath'] == '/plain':\n"
            "        return {'plain': True}\n"
            "    ctx = {'version': context.function_version, 'memory': context.memory_limit_in_mb,\n"
            "           'remaining': context.get_remaining_time_in_millis(), 'name': context.function_name}\n"
            "    return {'statusCode': 201, 'headers': {'x-agent': 'yes'}, 'body': json.dumps({'event': event, 'ctx': ctx})}\n")
        return out

    model = tuned(base_model, bake_s=0)
    with Emulator(model, state_dir=tmp_path, time_scale=SCALE, bundle_builder=build) as emu:
        emu.deploy()
        reply = emu.invoke("route?x=1", {"message": "hi"})
        assert reply["status"] == 201
        event, ctx = reply["body"]["event"], reply["body"]["ctx"]
        assert event["version"] == "2.0" and event["rawPath"] == "/route" and event["rawQueryString"] == "x=1"
        assert event["requestContext"]["http"]["method"] == "POST" and json.loads(event["body"]) == {"message": "hi"}
        assert event["headers"]["content-type"] == "application/json" and event["isBase64Encoded"] is False
        assert ctx == {"version": "1", "memory": model.function.memory_mb, "name": model.function.name,
                       "remaining": ctx["remaining"]}
        assert 0 < ctx["remaining"] <= model.function.timeout_s * 1000
        assert emu.invoke("plain")["body"] == {"plain": True}
        boom = emu.invoke("boom")
        assert boom["status"] == 502 and boom["body"] == {"message": "Internal Server Error"}
        logs = emu.logs(10)
        assert any("[ERROR] RuntimeError: boom" in line for line in logs)
        report = [line for line in logs if "REPORT RequestId: " + boom["request_id"] in line]
        assert report and f"Memory Size: {model.function.memory_mb} MB" in report[0] and "Max Memory Used: " in report[0]
        emu.deploy(with_env(model, RELEASE="2"), wait=True, timeout_s=30)
        assert emu.invoke("route", {}, version="1")["version"] == "1"  # a pinned version, like a qualified ARN
        assert emu.invoke("route", {}, version="7")["status"] == 404


def test_control_api_deploys_flushes_and_reports_errors_with_hints(base_model, tmp_path):
    from deployer.local.front.discovery import EmulatorClient

    model = tuned(base_model, bake_s=3600)
    with emulator(model, tmp_path) as emu:
        api = EmulatorClient(emu.control_url, emu.endpoints())
        first = api.post("/deploy", {"model": model.to_dict()})
        assert first["version"] == "1" and first["created"] is True
        for _ in range(5):
            emu.invoke("route", {"message": "hi"})
        assert api.flush()["written"] >= 5  # every request so far is in the request log
        dynamodb = client("dynamodb", emu.moto_endpoint, model.region)
        assert dynamodb.scan(TableName=model.request_log.table_name, Select="COUNT")["Count"] >= 6
        api.post("/deploy", {"model": with_env(model, RELEASE="2").to_dict(), "faults": {"latency_ms": 1}})
        with pytest.raises(DeployerError, match="in progress") as busy:
            api.post("/deploy", {"model": with_env(model, RELEASE="3").to_dict()})
        assert busy.value.hint is not None and "deployer rollback" in busy.value.hint
        status = api.status()
        assert status["rollout"]["status"] == "in_progress" and status["versions"][1]["faults"] == {"latency_ms": 1}
        assert api.rollback(reason="enough")["stopped_rollout"] == "2"
        with pytest.raises(DeployerError, match="no such endpoint"):
            api.get("/nope")
        timeline = api.get("/timeline")
        assert [e["kind"] for e in timeline if e["kind"] in ("publish", "rollback")] == ["publish", "publish", "rollback"]


def test_a_timed_out_request_gets_502_and_the_version_keeps_serving(base_model, tmp_path):
    def build(model: DeploymentModel, out: Path) -> Path:
        (out / "handlers").mkdir(parents=True)
        (out / "handlers" / "__init__.py").write_text("")
        (out / "handlers" / "runtime.py").write_text(
            "import json, time\n"
            "def handler(event, context):\n"
            "    if event['rawPath'] == '/slow':\n"
            "        time.sleep(3)\n"
            "    return {'statusCode': 200, 'body': json.dumps({'ok': True})}\n")
        return out

    model = tuned(base_model, bake_s=0)
    model = replace(model, function=replace(model.function, timeout_s=1))
    with Emulator(model, state_dir=tmp_path, time_scale=SCALE, bundle_builder=build) as emu:
        emu.deploy()
        started = time.monotonic()
        slow = emu.invoke("slow")
        assert slow["status"] == 502 and time.monotonic() - started < 2.5
        assert [emu.invoke("fast")["status"] for _ in range(3)] == [200, 200, 200]
        assert emu.invoke("slow")["status"] == 502  # the last connection retired too
        assert emu.invoke("fast")["status"] == 200  # served by a fresh worker process
        assert any(e["kind"] == "worker" for e in emu.timeline())


def test_a_deploy_that_changes_the_alarms_and_targets_creates_them(base_model, tmp_path, receiver):
    model = tuned(base_model, bake_s=0)
    with emulator(model, tmp_path) as emu:
        emu.deploy()
        extra = replace(model.alarms[0], name="tight-error-rate", threshold=0.0, notify=("ops_hook",))
        target = replace(model.notifications[0], name="ops_hook", kind="webhook", endpoint=f"{receiver.url}/hook",
                         topic_name="support-router-local-ops-hook")
        changed = replace(with_env(model, RELEASE="2"), alarms=(*model.alarms, extra),
                          notifications=(*model.notifications, target))
        emu.deploy(changed, wait=True, timeout_s=30)
        cloudwatch = client("cloudwatch", emu.moto_endpoint, model.region)
        assert cloudwatch.describe_alarms(AlarmNames=["tight-error-rate"])["MetricAlarms"]
        sns = client("sns", emu.moto_endpoint, model.region)
        assert any(t["TopicArn"].endswith(":support-router-local-ops-hook") for t in sns.list_topics()["Topics"])
        assert [s.name for s in emu.evaluator.status()][-1] == "tight-error-rate"
        notes = emu.notifier.notify(("ops_hook",), event="alarm", subject="test")
        emu.notifier.flush()
        assert notes and [p for p, _ in receiver.received] == ["/hook"]
