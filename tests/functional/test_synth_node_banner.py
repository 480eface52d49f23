"""`deployer synth` outside make: jsii's Node end-of-life banner stays out of the output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from deployer.synth import NODE_BANNER_VARIABLE, quiet_node_end_of_life_banner

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="jsii needs Node")


def _node_major() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()[1:].split(".")[0]


def test_the_variable_names_the_major_version_of_the_node_jsii_will_start() -> None:
    environ = {"PATH": os.environ["PATH"]}
    assert quiet_node_end_of_life_banner(environ) == _node_major()
    assert environ[NODE_BANNER_VARIABLE] == _node_major()


def test_a_value_the_user_set_is_kept() -> None:
    environ = {"PATH": os.environ["PATH"], NODE_BANNER_VARIABLE: "18"}
    assert quiet_node_end_of_life_banner(environ) is None
    assert environ[NODE_BANNER_VARIABLE] == "18"


@pytest.mark.slow
def test_starting_jsii_after_it_prints_no_banner_and_no_bytes() -> None:
    env = {k: v for k, v in os.environ.items() if k != NODE_BANNER_VARIABLE}
    code = "from deployer.synth import quiet_node_end_of_life_banner as q; q(); import aws_cdk; print(aws_cdk.Duration.minutes(1).to_seconds())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True)
    assert result.stdout.strip() == "60"
    assert "end-of-life" not in result.stderr and "b'" not in result.stderr and "!!!!" not in result.stderr
