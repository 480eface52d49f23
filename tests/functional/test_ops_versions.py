"""`status`, `debug` and `rollback` agree on versions and counts, over the AWS code path against moto.

status and debug count the same request records; cold-start requests count as requests but stay
out of the latency comparison; every published version is known to rollback, whatever the deploy
records say; a request table created before the version index is still read (by outcome).
"""

from __future__ import annotations

import json

import pytest

from deployer.errors import DeployerError
from deployer.ops.debug import what_changed
from deployer.ops.requests import list_errors
from deployer.ops.rollback import rollback
from deployer.ops.status import status
from deployer.ops.target import OpsTarget
from tests.helpers.ops_aws import cli, fresh_target, now_ms, publish_versions, record, request_line


def canary_traffic(target: OpsTarget) -> None:
    """v1 stable (12 requests, 1 error, 1 replay), v2 canary (6 requests, 2 errors, 1 cold start)."""
    t = now_ms()
    lines = [request_line(target.model, request_id=f"a{i}", version="1", status=500 if i == 0 else 200,
                          ts_ms=t - 5000 - i, error=("E", "m") if i == 0 else None) for i in range(12)]
    lines.append(request_line(target.model, request_id="a-replay", version="1", status=200, ts_ms=t - 100, replay=True))
    lines += [request_line(target.model, request_id=f"b{i}", version="2", status=500 if i % 2 else 200, ts_ms=t - i,
                           latency_ms=30.0 + i, error=("E", "m") if i % 2 else None) for i in range(5)]
    lines.append(request_line(target.model, request_id="b-cold", version="2", status=200, ts_ms=t - 50,
                              latency_ms=1900.0, cold_start=True))
    record(target, lines)


def test_status_and_debug_count_the_same_records_of_each_version(target: OpsTarget) -> None:
    publish_versions(target, 2, canary_weight=0.1)
    canary_traffic(target)
    report = what_changed(target)
    view = status(target)
    counts = {v["version"]: (v["requests"], v["errors"]) for v in view["versions"]}
    assert counts == {"1": (12, 1), "2": (6, 2)}  # the replay is left out of both
    assert (report["previous"]["requests"], report["previous"]["errors"]) == counts["1"]
    assert (report["current"]["requests"], report["current"]["errors"]) == counts["2"]
    assert target.endpoint.url is not None
    people = cli("status", endpoint=target.endpoint.url)
    assert people.returncode == 0, people.stderr
    assert "12 requests, 1 errors" in people.stdout and "6 requests, 2 errors" in people.stdout
    assert "vNone" not in people.stdout


def test_debug_leaves_cold_starts_out_of_the_latency_comparison_and_says_so(target: OpsTarget) -> None:
    publish_versions(target, 2, canary_weight=0.1)
    canary_traffic(target)
    current = what_changed(target)["current"]
    assert current["version"] == "2" and current["cold_starts"] == 1
    assert current["latency_p99_ms"] == pytest.approx(34.0)  # not the cold start's 1900 ms
    findings = what_changed(target)["findings"]
    assert any("leave out its 1 cold-start request(s)" in f and "v2" in f for f in findings), findings
    assert target.endpoint.url is not None
    people = cli("debug", endpoint=target.endpoint.url)
    assert people.returncode == 0, people.stderr
    assert "cold starts" in people.stdout


def test_rollback_after_an_automatic_rollback_names_every_published_version(target: OpsTarget) -> None:
    versions = publish_versions(target, 2)
    target.endpoint.client("lambda").update_alias(FunctionName=target.function_name, Name=target.model.alias,
                                                  FunctionVersion=versions[0])  # v2 was rolled back
    with pytest.raises(DeployerError) as caught:
        rollback(target, reason="again", who="oncall")
    assert caught.value.message == ("no previous version to roll back to: all traffic is already on version 1, the "
                                    "oldest of the versions deployed in 'staging' (1, 2)")
    assert "--to" in (caught.value.hint or "")
    done = rollback(target, to="2", reason="v2 was fine after all", who="oncall")
    assert done["version"] == "2" and done["serving"] == {"primary": "2", "additional": {}}


def test_a_table_without_the_version_index_is_read_by_outcome(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    old = fresh_target(moto_url, version_index=False)  # a stack deployed before the version index
    publish_versions(old, 2, canary_weight=0.1)
    canary_traffic(old)
    assert [r.request_id for r in list_errors(old, version="2")] == ["b1", "b3"]
    report = what_changed(old)
    assert (report["current"]["requests"], report["current"]["errors"]) == (6, 2)
    assert (report["previous"]["requests"], report["previous"]["errors"]) == (12, 1)


def test_status_json_is_what_the_pipeline_returns(target: OpsTarget) -> None:
    publish_versions(target, 1)
    assert target.endpoint.url is not None
    view = json.loads(cli("status", "--json", endpoint=target.endpoint.url).stdout)
    assert view["routing"] == {"primary": "1", "additional": {}} and view["stable_version"] == "1"
    assert [v["version"] for v in view["versions"]] == ["1"] and view["versions"][0]["requests"] == 0
