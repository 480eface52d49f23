"""Fixtures of the ops tests over the AWS code path (test_ops_aws_*, test_ops_versions).

`moto_url`: a moto server for the module; `target`: `staging` of the root agent.yaml on it, reset
for each test, boto3 pointed at it through AWS_ENDPOINT_URL. A module that defines its own
fixture of the same name uses its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployer.ops.target import OpsTarget
from tests.helpers.moto_server import moto_server
from tests.helpers.ops_aws import fresh_target


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    # moto runs nothing without Docker; with this it echoes the invoke payload back (FACTS.md)
    with moto_server(config={"lambda": {"use_docker": False}}) as url:
        yield url


@pytest.fixture
def target(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> OpsTarget:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    return fresh_target(moto_url)
