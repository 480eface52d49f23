"""The scaffold's names."""

from __future__ import annotations

import pytest

from deployer.scaffold import class_name


@pytest.mark.parametrize(("name", "expected"), [
    ("ticket-triage", "TicketTriageAgent"), ("my-agent", "MyAgent"), ("agent", "Agent"), ("sms-spam", "SmsSpamAgent"),
])
def test_the_class_name_reads_like_a_class_and_never_says_agent_twice(name: str, expected: str) -> None:
    assert class_name(name) == expected
