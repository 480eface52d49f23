"""Redaction of personal data and credentials before anything is written."""

from __future__ import annotations

import pytest

from handlers.redaction import Redactor

ALL = ("email", "phone", "card_number", "aws_key", "bearer_token")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+bank@example.co.uk today", "write to [REDACTED:email] today"),
        ("call +44 20 7946 0958", "call [REDACTED:phone]"),
        ("call (555) 123-4567 or 555.123.4567", "call [REDACTED:phone] or [REDACTED:phone]"),
        ("card 4111 1111 1111 1111 expired", "card [REDACTED:card_number] expired"),
        ("card 4111-1111-1111-1111", "card [REDACTED:card_number]"),
        ("key AKIAIOSFODNN7EXAMPLE leaked", "key [REDACTED:aws_key] leaked"),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: [REDACTED:bearer_token]"),
    ],
)
def test_builtins_redact_their_pattern(text: str, expected: str) -> None:
    assert Redactor(ALL).text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "paid on 2024-05-01 and 01/05/2024",
        "charged 3 times for 25.50 euros",
        "order 12345",
        "number 4111-1111-1111-1112 fails the Luhn check",
    ],
)
def test_ordinary_numbers_are_kept(text: str) -> None:
    redacted = Redactor(ALL).text(text)
    assert "REDACTED:card_number" not in redacted
    if "Luhn" not in text:
        assert redacted == text


def test_custom_patterns_and_nested_values() -> None:
    redactor = Redactor(("email",), (("ticket", r"TCK-\d+"),))
    value = {"subject": "TCK-991 from a@b.io", "items": ["x@y.org", 3, None], "email": True}
    assert redactor.redact(value) == {
        "subject": "[REDACTED:ticket] from [REDACTED:email]",
        "items": ["[REDACTED:email]", 3, None],
        "email": True,
    }


def test_only_selected_builtins_apply() -> None:
    assert Redactor(("phone",)).text("a@b.io 555-123-4567") == "a@b.io [REDACTED:phone]"
    assert not Redactor(())


def test_unknown_builtin_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown redaction builtins"):
        Redactor(("ssn",))
