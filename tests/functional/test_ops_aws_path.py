"""errors, replay, debug, logs and rollback over the AWS code path, against a real moto server.

The environment is `staging` (target aws) and boto3 is pointed at a moto server on 127.0.0.1
through AWS_ENDPOINT_URL: the same code that runs against AWS, another endpoint. Request records
are rendered by the runtime's own `Telemetry` and written by the real recorder
(`handlers.recorder`), so the items have exactly the shape the deployed stack writes.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from deployer.errors import DeployerError
from deployer.ops.debug import what_changed
from deployer.ops.logs import LogFilter, read_logs
from deployer.ops.records import deploy_records, write_deploy_record
from deployer.ops.replay import choose_version, replay_batch, replay_request
from deployer.ops.requests import get_request, list_errors, recent_requests
from deployer.ops.rollback import rollback
from deployer.ops.target import OpsTarget
from tests.helpers.ops_aws import ENV, cli, now_ms, publish_versions, record, request_line


# -- errors -------------------------------------------------------------------------------------------
def test_errors_lists_failures_newest_first_with_their_kept_input(target: OpsTarget) -> None:
    t = now_ms()
    record(target, [
        request_line(target.model, request_id="ok-1", version="1", status=200, ts_ms=t - 5000, output={"team": "cards"}),
        request_line(target.model, request_id="err-old", version="1", status=500, ts_ms=t - 4000,
                     data={"text": "old"}, error=("RuntimeError", "model down")),
        request_line(target.model, request_id="err-new", version="2", status=504, ts_ms=t - 1000,
                     data={"text": "new"}, error=("Timeout", "too slow"), latency_ms=2001.5),
        request_line(target.model, request_id="err-replayed", version="2", status=500, ts_ms=t - 500,
                     data={"text": "r"}, error=("RuntimeError", "x"), replay=True),
    ])
    found = list_errors(target)
    assert [r.request_id for r in found] == ["err-new", "err-old"]  # replays left out
    newest = found[0]
    assert (newest.version, newest.status, newest.error_type, newest.error_message) == ("2", 504, "Timeout", "too slow")
    assert newest.latency_ms == pytest.approx(2001.5)
    assert newest.input == {"text": "new"} and newest.has_input
    with_replays = list_errors(target, include_replays=True)
    assert with_replays[0].request_id == "err-replayed" and with_replays[0].replay


def test_errors_filters_by_version_since_and_limit(target: OpsTarget) -> None:
    t = now_ms()
    record(target, [request_line(target.model, request_id=f"e{i}", version=str(1 + i % 2), status=500,
                                 ts_ms=t - i * 60_000, data={"i": i}, error=("E", "boom")) for i in range(10)])
    assert [r.request_id for r in list_errors(target, version="2")] == ["e1", "e3", "e5", "e7", "e9"]
    assert [r.request_id for r in list_errors(target, since_s=150)] == ["e0", "e1", "e2"]
    assert [r.request_id for r in list_errors(target, limit=2)] == ["e0", "e1"]


def test_errors_command_with_no_failures_says_so_and_json_is_empty(target: OpsTarget) -> None:
    assert target.endpoint.url is not None
    people = cli("errors", "--since", "1h", endpoint=target.endpoint.url)
    assert people.returncode == 0, people.stderr
    assert f"no failed requests in {ENV!r} in the last 1h" in people.stdout
    scripts = cli("errors", "--json", endpoint=target.endpoint.url)
    assert scripts.returncode == 0, scripts.stderr
    assert json.loads(scripts.stdout) == {"environment": ENV, "count": 0, "errors": []}


def test_errors_command_prints_a_table_and_json(target: OpsTarget) -> None:
    assert target.endpoint.url is not None
    record(target, [request_line(target.model, request_id="req-abc", version="3", status=500, ts_ms=now_ms(),
                                 data={"text": "card stolen"}, error=("ValueError", "bad label"))])
    people = cli("errors", endpoint=target.endpoint.url)
    assert people.returncode == 0, people.stderr
    for part in ("req-abc", "ValueError: bad label", "card stolen", "deployer replay"):
        assert part in people.stdout
    data = json.loads(cli("errors", "--json", endpoint=target.endpoint.url).stdout)
    assert data["count"] == 1
    assert data["errors"][0]["input"] == {"text": "card stolen"} and data["errors"][0]["version"] == "3"


def test_errors_with_a_bad_since_says_how_to_write_it(target: OpsTarget) -> None:
    assert target.endpoint.url is not None
    result = cli("errors", "--since", "yesterday", endpoint=target.endpoint.url)
    assert result.returncode == 1
    assert "--since 'yesterday'" in result.stderr and "30s, 5m" in result.stderr


def test_errors_before_anything_is_deployed_names_the_table_and_what_to_do(target: OpsTarget) -> None:
    target.endpoint.client("dynamodb").delete_table(TableName=target.table_name)
    with pytest.raises(DeployerError) as caught:
        list_errors(target)
    assert "dynamodb:Query" in caught.value.message and target.table_name in caught.value.message
    assert caught.value.hint and "deployer deploy --env" in caught.value.hint


# -- replay -------------------------------------------------------------------------------------------
def test_replay_of_an_unknown_request_id_in_an_empty_log_says_nothing_was_recorded(target: OpsTarget) -> None:
    with pytest.raises(DeployerError) as caught:
        get_request(target, "req_xyz")
    assert caught.value.message == f"no request with id req_xyz: no request has been recorded in {ENV!r} yet"
    assert caught.value.hint and f"deployer errors --env {ENV}" in caught.value.hint
    assert target.endpoint.url is not None
    result = cli("replay", "req_xyz", endpoint=target.endpoint.url)
    assert result.returncode == 1 and "no request with id req_xyz" in result.stderr


def test_replay_of_an_unknown_request_id_says_when_the_log_begins_or_that_records_expire(target: OpsTarget) -> None:
    day_ms = 86_400_000
    record(target, [request_line(target.model, request_id="recent", version="1", status=200, ts_ms=now_ms() - 60_000)])
    with pytest.raises(DeployerError) as young:
        get_request(target, "req_xyz")
    assert young.value.message.startswith(f"no request with id req_xyz: the request log of {ENV!r} begins at ")
    assert "first deployed" in young.value.message
    record(target, [request_line(target.model, request_id="old", version="1", status=200, ts_ms=now_ms() - 7 * day_ms)])
    with pytest.raises(DeployerError) as full:
        get_request(target, "req_xyz")
    assert full.value.message == "no request with id req_xyz in the last 7 days of records; records expire after 7 days"


@pytest.mark.parametrize("request_id", ["", "two words", "x" * 300, "req#1", "id~two"])
def test_replay_of_a_malformed_request_id_is_a_usage_error_saying_what_an_id_looks_like(
        target: OpsTarget, request_id: str) -> None:
    assert target.endpoint.url is not None
    result = cli("replay", request_id, endpoint=target.endpoint.url)
    assert result.returncode == 2, result.stderr
    assert "is not a request id" in result.stderr and "letters, digits and" in result.stderr
    assert "has this environment been deployed" not in result.stderr


def test_replay_against_a_version_that_does_not_exist_exits_1_naming_the_versions(target: OpsTarget) -> None:
    publish_versions(target, 2)
    record(target, [request_line(target.model, request_id="r1", version="2", status=500, ts_ms=now_ms(),
                                 data={"n": 1}, error=("E", "m"))])
    assert target.endpoint.url is not None
    result = cli("replay", "r1", "--version", "99", endpoint=target.endpoint.url)
    assert result.returncode == 1, result.stdout
    assert "no version 99 of" in result.stderr and "versions: 1, 2" in result.stderr


def test_replay_invokes_the_stable_version_directly_marked_as_a_replay(target: OpsTarget) -> None:
    versions = publish_versions(target, 3, canary_weight=0.05)  # alias: v2 + 5 % on v3
    record(target, [request_line(target.model, request_id="r1", version="3", status=500, ts_ms=now_ms(),
                                 data={"text": "lost card"}, error=("KeyError", "'team'"))])
    result = replay_request(target, "r1", against="stable")
    assert result.new.version == versions[1]
    # moto echoes the event it was invoked with: the direct-invoke shape with the replay flag
    assert result.new.output == {"action": "route", "input": {"text": "lost card"}, "replay": True}
    assert result.new.ok and not result.original.ok
    assert result.changed is True
    assert choose_version(target, against="canary") == versions[2]
    assert choose_version(target, version="1") == "1"


def test_replay_against_canary_without_one_says_so(target: OpsTarget) -> None:
    publish_versions(target, 1)
    with pytest.raises(DeployerError) as caught:
        choose_version(target, against="canary")
    assert "no canary" in caught.value.message and "sends all traffic to version 1" in caught.value.message


def test_replay_before_any_deploy_says_deploy_first(target: OpsTarget) -> None:
    record(target, [request_line(target.model, request_id="r1", version="1", status=500, ts_ms=now_ms(),
                                 data={"x": 1}, error=("E", "m"))])
    with pytest.raises(DeployerError) as caught:
        replay_request(target, "r1")
    assert "nothing is deployed" in caught.value.message


def test_replay_refuses_an_action_with_side_effects_unless_allowed(target: OpsTarget) -> None:
    publish_versions(target, 1)
    risky = dataclasses.replace(target.model, actions=tuple(
        dataclasses.replace(a, side_effects=True) for a in target.model.actions))
    risky_target = dataclasses.replace(target, model=risky)
    record(target, [request_line(target.model, request_id="r1", version="1", status=500, ts_ms=now_ms(),
                                 data={"refund": 10}, error=("E", "m"))])
    with pytest.raises(DeployerError) as caught:
        replay_request(risky_target, "r1")
    assert "side_effects: true" in caught.value.message and "--allow-side-effects" in (caught.value.hint or "")
    assert replay_request(risky_target, "r1", allow_side_effects=True).new.ok


def test_replay_of_a_request_whose_input_was_not_kept_explains_the_policy(target: OpsTarget) -> None:
    publish_versions(target, 1)
    record(target, [request_line(target.model, request_id="sampled-out", version="1", status=200, ts_ms=now_ms())])
    with pytest.raises(DeployerError) as caught:
        replay_request(target, "sampled-out")
    assert "no recorded input" in caught.value.message and "sample_rate" in caught.value.message


def test_replay_last_errors_summarises_now_succeed_fail_changed(target: OpsTarget) -> None:
    publish_versions(target, 2)
    t = now_ms()
    record(target, [
        request_line(target.model, request_id="a", version="2", status=500, ts_ms=t - 3, data={"n": 1}, error=("E", "m")),
        request_line(target.model, request_id="b", version="2", status=500, ts_ms=t - 2, data={"n": 2}, error=("E", "m")),
        request_line(target.model, request_id="c", version="2", status=500, ts_ms=t - 1, error=("E", "no input kept")),
        request_line(target.model, request_id="ok", version="2", status=200, ts_ms=t, data={"n": 3}, output={"n": 3}),
    ])
    batch = replay_batch(target, 10, errors_only=True)
    summary = batch.summary()
    assert summary["replayed"] == 2 and summary["now_succeed"] == 2 and summary["fail"] == 0
    assert summary["changed"] == 2 and summary["fixed"] == 2
    assert batch.skipped == [{"request_id": "c", "reason": batch.skipped[0]["reason"]}]
    everything = recent_requests(target, limit=10)
    assert [r.request_id for r in everything] == ["ok", "c", "b", "a"]


def test_replay_last_with_nothing_recorded_says_so(target: OpsTarget) -> None:
    publish_versions(target, 1)
    assert target.endpoint.url is not None
    result = cli("replay", "--last", "5", "--errors", endpoint=target.endpoint.url)
    assert result.returncode == 0, result.stderr
    assert f"no recorded failed requests to replay in {ENV!r}" in result.stdout


# -- deploy records and debug -------------------------------------------------------------------------
def test_debug_compares_the_canary_with_the_stable_version(target: OpsTarget) -> None:
    publish_versions(target, 2, canary_weight=0.05)
    before = target.model
    after = dataclasses.replace(before, function=dataclasses.replace(before.function, memory_mb=2048),
                                spec_hash="changed")
    write_deploy_record(before, "1", "code-aaa", endpoint_url=target.endpoint.url, deployed_by="alice")
    write_deploy_record(after, "2", "code-bbb", endpoint_url=target.endpoint.url, deployed_by="bob")
    t = now_ms()
    lines = [request_line(before, request_id=f"v1-{i}", version="1", status=200, ts_ms=t - 1000 - i,
                          latency_ms=10.0 + i, cost_usd=0.00001) for i in range(20)]
    lines += [request_line(after, request_id=f"v2-{i}", version="2", status=500 if i % 2 else 200, ts_ms=t - i,
                           latency_ms=100.0 + i, cost_usd=0.00004, error=("E", "m") if i % 2 else None)
              for i in range(10)]
    record(target, lines)
    report = what_changed(target)
    assert [(r["version"], r["role"]) for r in report["routing"]] == [("1", "stable"), ("2", "canary")]
    assert report["routing"][1]["weight"] == pytest.approx(0.05)
    cur, prev = report["current"], report["previous"]
    assert (cur["version"], prev["version"]) == ("2", "1")
    assert (prev["requests"], prev["errors"], prev["error_rate_pct"]) == (20, 0, 0.0)
    assert (cur["requests"], cur["errors"], cur["error_rate_pct"]) == (10, 5, 50.0)
    assert prev["latency_p99_ms"] == pytest.approx(29.0) and cur["latency_p99_ms"] == pytest.approx(109.0)
    assert cur["cost_per_request_usd"] == pytest.approx(0.00004)
    assert report["code_changed"] is True
    assert {"path": "function.memory_mb", "before": before.function.memory_mb, "after": 2048} in report["spec_diff"]
    assert cur["deploy"]["deployed_by"] == "bob"
    assert any("code changed: code-aaa -> code-bbb" in f for f in report["findings"])
    assert any(a["state"] == "MISSING" for a in report["alarms"])  # no stack here: said, not hidden
    assert [r.version for r in deploy_records(target.requests(), ENV)] == ["2", "1"]


def test_debug_with_a_single_version_says_there_is_nothing_to_compare(target: OpsTarget) -> None:
    publish_versions(target, 1)
    report = what_changed(target)
    assert report["previous"] is None and report["current"]["requests"] == 0
    assert any("no version before 1 to compare with" in f for f in report["findings"])
    assert target.endpoint.url is not None
    people = cli("debug", endpoint=target.endpoint.url)
    assert people.returncode == 0, people.stderr
    assert "no version before 1 to compare with" in people.stdout


def test_debug_before_any_deploy_says_deploy_first(target: OpsTarget) -> None:
    assert target.endpoint.url is not None
    result = cli("debug", endpoint=target.endpoint.url)
    assert result.returncode == 1 and "nothing is deployed" in result.stderr and "deployer deploy" in result.stderr


# -- rollback (AWS path) ------------------------------------------------------------------------------
def test_rollback_with_no_previous_version_says_so(target: OpsTarget) -> None:
    publish_versions(target, 1)
    with pytest.raises(DeployerError) as caught:
        rollback(target, reason="test", who="tester")
    assert "no previous version to roll back to: version 1 is the only one deployed" in caught.value.message


def test_rollback_moves_all_traffic_to_the_previous_version_and_records_who_and_why(target: OpsTarget) -> None:
    publish_versions(target, 3)
    done = rollback(target, reason="errors after v3", who="oncall")
    assert (done["version"], done["previous"], done["who"]) == ("2", "3", "oncall")
    alias = target.endpoint.client("lambda").get_alias(FunctionName=target.function_name, Name=target.model.alias)
    assert alias["FunctionVersion"] == "2"
    assert not (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    items = target.endpoint.client("dynamodb").scan(TableName=target.table_name)["Items"]
    rollback_items = [i for i in items if i["outcome"]["S"] == "rollback"]
    assert len(rollback_items) == 1
    assert rollback_items[0]["reason"]["S"] == "errors after v3" and rollback_items[0]["who"]["S"] == "oncall"


def test_rollback_during_a_canary_goes_back_to_the_stable_version(target: OpsTarget) -> None:
    publish_versions(target, 2, canary_weight=0.5)
    done = rollback(target, reason="canary bad", who="oncall")
    assert done["version"] == "1" and done["canary"] == ["2"]


def test_rollback_to_a_version_that_does_not_exist_lists_the_versions(target: OpsTarget) -> None:
    publish_versions(target, 2)
    with pytest.raises(DeployerError) as caught:
        rollback(target, to="9", reason="x", who="me")
    assert "no version 9" in caught.value.message and "1, 2" in caught.value.message


# -- logs ---------------------------------------------------------------------------------------------
def test_logs_reads_request_lines_from_the_log_group_with_filters(target: OpsTarget) -> None:
    logs = target.endpoint.client("logs")
    logs.create_log_group(logGroupName=target.log_group)
    logs.create_log_stream(logGroupName=target.log_group, logStreamName="2026/11/26/[2]abc")
    t = now_ms()
    lines = [request_line(target.model, request_id="l-ok", version="2", status=200, ts_ms=t - 30),
             request_line(target.model, request_id="l-err", version="2", status=500, ts_ms=t - 20, error=("E", "m")),
             request_line(target.model, request_id="l-err-1", version="1", status=500, ts_ms=t - 10, error=("E", "m"))]
    logs.put_log_events(logGroupName=target.log_group, logStreamName="2026/11/26/[2]abc",
                        logEvents=[{"timestamp": t - 40, "message": "START RequestId: 1 Version: 2"}]
                        + [{"timestamp": t - 30 + 10 * i, "message": line} for i, line in enumerate(lines)])
    every = read_logs(target, LogFilter.parse([]))
    assert [line.record["request_id"] for line in every if line.record] == ["l-ok", "l-err", "l-err-1"]
    assert len(every) == 3  # request lines only by default
    errors = read_logs(target, LogFilter.parse(["outcome=error", "version=2"]))
    assert [line.record["request_id"] for line in errors if line.record] == ["l-err"]
    assert len(read_logs(target, LogFilter.parse([], requests_only=False))) == 4
    assert read_logs(target, LogFilter.parse(["outcome=error"]), limit=1)[0].record == json.loads(lines[2])


def test_log_filters_become_a_cloudwatch_json_pattern() -> None:
    assert LogFilter.parse(["outcome=error", "version=3"]).cloudwatch_pattern() == \
        '{ $.event = "request" && $.outcome = "error" && $.version = "3" }'
    assert LogFilter.parse(["status!=200"]).cloudwatch_pattern() == '{ $.event = "request" && $.status != 200 }'
    assert LogFilter.parse([], requests_only=False).cloudwatch_pattern() is None
    with pytest.raises(DeployerError):
        LogFilter.parse(["outcome=error", "timeout"]).cloudwatch_pattern()


def test_logs_when_the_function_never_ran_says_why(target: OpsTarget) -> None:
    with pytest.raises(DeployerError) as caught:
        read_logs(target, LogFilter.parse([]))
    assert target.log_group in caught.value.message and "first request" in (caught.value.hint or "")



def test_logs_tail_yields_each_new_line_once_and_stops_when_told(target: OpsTarget) -> None:
    from deployer.ops.logs import follow_logs

    logs = target.endpoint.client("logs")
    logs.create_log_group(logGroupName=target.log_group)
    logs.create_log_stream(logGroupName=target.log_group, logStreamName="s")
    t = now_ms()
    first = request_line(target.model, request_id="t1", version="1", status=200, ts_ms=t - 20)
    logs.put_log_events(logGroupName=target.log_group, logStreamName="s", logEvents=[{"timestamp": t - 20,
                                                                                       "message": first}])
    polls: list[float] = []

    def sleep(seconds: float) -> None:  # the second poll finds one more line
        polls.append(seconds)
        if len(polls) == 1:
            second = request_line(target.model, request_id="t2", version="1", status=500, ts_ms=t - 10,
                                  error=("E", "m"))
            logs.put_log_events(logGroupName=target.log_group, logStreamName="s",
                                logEvents=[{"timestamp": t - 10, "message": second}])

    seen = [line.record["request_id"] for line in
            follow_logs(target, LogFilter.parse([]), poll_s=0.2, max_s=0.5, sleep=sleep) if line.record]
    assert seen == ["t1", "t2"]
    assert polls == [0.2, 0.2]  # 0.5 s at one poll per 0.2 s: two waits, three polls
