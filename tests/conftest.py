"""Suite-wide guards: no test can reach a real AWS account unless it opts in; property tests repeat.

Tests marked `aws` run only with `DEPLOYER_AWS_TESTS=1` and real credentials; everything else
gets fake credentials and talks to moto or the emulator on 127.0.0.1.

Property-based tests (Hypothesis) draw the same examples on every run of `make test` (profile
`ci`, derandomized), so a run's result depends on the code, not on luck. `make fuzz` (profile
`explore`) draws new examples each run, ten times as many, to look for what the fixed ones miss;
an input it finds becomes an `@example` of its test.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
}
REAL_AWS = os.environ.get("DEPLOYER_AWS_TESTS") == "1"

if not REAL_AWS:
    os.environ.update(_FAKE_AWS)
    os.environ.pop("AWS_PROFILE", None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REAL_AWS:
        return
    skip = pytest.mark.skip(reason="real-account test: set DEPLOYER_AWS_TESTS=1 with credentials to run")
    for item in items:
        if "aws" in item.keywords:
            item.add_marker(skip)
