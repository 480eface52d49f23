"""`main()` is the one boundary: results and errors become exit codes there, and nowhere else."""

from __future__ import annotations

import os
import signal

import click
import pytest

from deployer import cli
from deployer.errors import DeployerError


@click.command()
@click.option("--how", type=click.Choice(["fine", "code", "expected", "quiet", "bug", "terminated"]))
def probe(how: str) -> int | None:
    """A command of this test module, registered the way every command is (cli.COMMANDS)."""
    if how == "code":
        return 3
    if how == "expected":
        raise DeployerError("the spec says X, which cannot work", hint="write Y instead")
    if how == "quiet":
        raise DeployerError("", exit_code=4)
    if how == "bug":
        raise RuntimeError("an unexpected state")
    if how == "terminated":  # as a cancelled CI job does to the process
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs at the next bytecode, in this thread
        raise AssertionError("SIGTERM did not stop the command")
    return None


@pytest.fixture()
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.COMMANDS, "probe", f"{__name__}:probe")


@pytest.mark.usefixtures("registered")
@pytest.mark.parametrize(("how", "code"), [("fine", 0), ("code", 3), ("quiet", 4)])
def test_a_command_decides_its_exit_code_by_returning_it(how: str, code: int) -> None:
    assert cli.main(["probe", "--how", how]) == code


@pytest.mark.usefixtures("registered")
def test_an_expected_failure_prints_its_message_and_hint_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", "--how", "expected"]) == 1
    err = capsys.readouterr().err
    assert err == "the spec says X, which cannot work\n  hint: write Y instead\n"


@pytest.mark.usefixtures("registered")
def test_a_bug_prints_a_traceback_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", "--how", "bug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: an unexpected state" in err
    assert "this is a bug in deployer" in err


@pytest.mark.usefixtures("registered")
def test_a_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probe", "--how", "sideways"]) == 2
    assert "Invalid value for '--how'" in capsys.readouterr().err


@pytest.mark.usefixtures("registered")
def test_sigterm_runs_the_ctrl_c_path_exits_143_and_the_handler_is_put_back(capsys: pytest.CaptureFixture[str]) -> None:
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert cli.main(["probe", "--how", "terminated"]) == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # main() leaves the process as it found it
    assert cli.main(["probe", "--how", "fine"]) == 0  # a later run is not marked terminated
