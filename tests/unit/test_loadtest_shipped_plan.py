"""The plan a master ships to its workers, and a worker's refusal of a plan it would run differently."""

from __future__ import annotations

import dataclasses

import pytest

from deployer.loadtest.distributed import PlanRefused, check_payload, generator_code_hash, plan_payload
from deployer.loadtest.inputs import InputSet
from deployer.loadtest.records import GeneratorSettings

SETTINGS = GeneratorSettings(
    target_url="https://abc.lambda-url.eu-west-1.on.aws", action="route", mode="rate", phase="rate", rps=200.0,
    users=40, workers=4, duration_s=60.0, input_file="/master/only/inputs.jsonl", distribution="weighted",
    weight_field="weight", seed=1, timeout_s=11.0, results_dir="/master/only/raw", sigv4_region="eu-west-1",
    warmup=5, label="support-router/staging", phase_number=1, phases=3, master_bind_host="10.0.0.5",
    master_port=5557)
INPUTS = InputSet(path="/master/only/inputs.jsonl", bodies=(b'{"message":"a"}', b'{"message":"b"}'),
                  weights=(10.0, 1.0))


def test_a_worker_receives_the_masters_settings_and_input_bodies() -> None:
    shipped = check_payload(plan_payload(SETTINGS, INPUTS))
    assert shipped.settings == SETTINGS  # signing region, rate, seed, distribution: all the master's
    assert shipped.inputs.bodies == INPUTS.bodies and shipped.inputs.weights == INPUTS.weights


def test_the_plan_id_changes_with_the_plan_or_the_inputs() -> None:
    plan_id = plan_payload(SETTINGS, INPUTS)["plan_id"]
    assert plan_payload(SETTINGS, INPUTS)["plan_id"] == plan_id
    assert plan_payload(dataclasses.replace(SETTINGS, rps=201.0), INPUTS)["plan_id"] != plan_id
    assert plan_payload(SETTINGS, dataclasses.replace(INPUTS, bodies=(b"{}", b"{}")))["plan_id"] != plan_id


def test_a_worker_refuses_a_plan_from_different_generator_code() -> None:
    payload = {**plan_payload(SETTINGS, INPUTS), "code": "0" * 16}
    with pytest.raises(PlanRefused, match=f"this worker's load generator code \\({generator_code_hash()}\\) differs"):
        check_payload(payload)


def test_a_worker_refuses_a_master_that_sent_no_plan() -> None:
    with pytest.raises(PlanRefused, match="sent no deployer plan"):
        check_payload(None)
