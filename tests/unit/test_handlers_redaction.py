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


# --- the default policy covers credentials --------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "label"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "aws_key"),
        ("Authorization: Bearer abc.def.ghi", "bearer_token"),
        ("sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", "api_key"),
        ("api_key=9f8e7d6c5b4a3210", "api_key"),
        ('"x-api-key": "9f8e7d6c5b4a3210"', "api_key"),
        ("DE89 3704 0044 0532 0130 00", "iban"),
        ("GB82WEST12345698765432", "iban"),
    ],
)
def test_the_default_policy_redacts_each_kind_of_secret(secret: str, label: str) -> None:
    from deployer.compiler import CREDENTIAL_REDACTION
    from deployer.spec.models import MonitoringSpec

    defaults = [r for r in MonitoringSpec().redaction if isinstance(r, str)]
    assert set(CREDENTIAL_REDACTION) <= set(defaults)
    redacted = Redactor(defaults).text(f"please use {secret} today")
    assert f"[REDACTED:{label}]" in redacted
    assert secret.split()[-1] not in redacted


def test_an_api_key_field_of_a_json_input_is_redacted_whatever_its_value_looks_like() -> None:
    redactor = Redactor(("api_key",))
    assert redactor.redact({"api_key": "short", "apiKey": "x1", "X-Api-Key": "y", "key": "kept"}) == {
        "api_key": "[REDACTED:api_key]", "apiKey": "[REDACTED:api_key]", "X-Api-Key": "[REDACTED:api_key]", "key": "kept"}


def test_an_iban_with_a_wrong_check_digit_is_not_an_iban() -> None:
    assert Redactor(("iban",)).text("ref DE00 3704 0044 0532 0130 00") == "ref DE00 3704 0044 0532 0130 00"


def test_only_the_start_of_a_long_string_is_redacted_and_kept() -> None:
    from handlers.redaction import MAX_REDACTED_CHARS

    text = "x" * (MAX_REDACTED_CHARS - 100) + " mail a@b.io then " + "AKIAIOSFODNN7EXAMPLE " * 1000
    out = Redactor(("email", "aws_key")).text(text)
    kept, _, marker = out.rpartition("[TRUNCATED:")
    assert "[REDACTED:email]" in kept and "AKIA" not in out
    assert len(kept) <= MAX_REDACTED_CHARS + 50
    assert marker.endswith(" characters]") and int(marker.split()[0]) > 20_000


# --- every built-in runs in linear time -------------------------------------------------------------

ADVERSARIAL = {
    "letters": "a",
    "digits": "7",
    "dots": "a.",
    "at signs": "a@",
    "emails without a domain": "ab.cd@",
    "digits and spaces": "12 ",
    "digits and dashes": "4-",
    "bearer words": "bearer ",
    "key prefixes": "AKIA",
    "sk prefixes": "sk-",
    "api_key pairs": "api_key=",
    "iban shapes": "DE89 ",
    "mixed": "Ab9._%+-@ (",
}


def _best_of(runs: int, call: object) -> float:
    import time

    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("builtin", ["email", "phone", "card_number", "iban", "aws_key", "bearer_token", "api_key"])
def test_each_builtin_scans_a_megabyte_of_adversarial_text_in_linear_time(builtin: str) -> None:
    """Each built-in on 1 MB of each adversarial text, against a trivial regex scan of the same
    text (one character class tried at every position): within 50x, whatever the machine.
    A short text first, so that a quadratic pattern fails in a second instead of hanging."""
    import re

    redactor = Redactor((builtin,))
    step = redactor._steps[0]
    trivial = re.compile(r"[^\s\S]")  # never matches: the engine tries every position once
    for size in (16_000, 1_000_000):
        for name, unit in ADVERSARIAL.items():
            text = unit * (size // len(unit))
            baseline = _best_of(3, lambda text=text: trivial.sub("", text))
            took = _best_of(2, lambda text=text: step(text))
            assert took < 50 * baseline + 0.002, f"{builtin} on {size:,} chars of {name}: {took / baseline:.0f}x"
