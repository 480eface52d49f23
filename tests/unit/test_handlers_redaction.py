"""Redaction of personal data and credentials before anything is written."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.redaction import BUILTIN_ORDER, Redactor
from tests.helpers.cpu_time import best_cpu_s
from tests.helpers.properties import examples

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


@pytest.mark.parametrize("builtin", ["email", "phone", "card_number", "iban", "aws_key", "bearer_token", "api_key"])
def test_each_builtin_scans_a_megabyte_of_adversarial_text_in_linear_time(builtin: str) -> None:
    """Each built-in on 1 MB of each adversarial text, against a trivial regex scan of the same
    text (one character class tried at every position), in CPU time: within 50x (the worst
    measures ~30x), plus 10 ms (a quadratic pattern takes seconds on the short text).
    A short text first, so that a quadratic pattern fails in a second instead of hanging."""
    import re

    redactor = Redactor((builtin,))
    step = redactor._steps[0][1]  # the pattern itself, past its screen
    trivial = re.compile(r"[^\s\S]")  # never matches: the engine tries every position once
    for size in (16_000, 1_000_000):
        for name, unit in ADVERSARIAL.items():
            text = unit * (size // len(unit))
            baseline = best_cpu_s(3, lambda text=text: trivial.sub("", text))
            took = best_cpu_s(3, lambda text=text: step(text))
            assert took < 50 * baseline + 0.010, f"{builtin} on {size:,} chars of {name}: {took / baseline:.0f}x"


# -- screens: a built-in runs only when a necessary condition of its pattern holds -------------------

#: Fragments of every pattern, and the characters `re` folds onto their letters (dotless i, long s,
#: the Kelvin sign, dotted capital I), Unicode digits and separators.
_FRAGMENTS = st.sampled_from([
    "bearer ", "BEARER\t", "Bearer  ", "beaRer ", "sk-", "SK-", "\u017fk-", "api_key=", "x-api-key: ", "ap\u0131-key:", "AP\u0130_KEY=",
    "AKIA", "ASIA", "AROA", "AIDA", "@", "a.b@", "example.com", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
    "4111 1111 1111 1111", "4111-1111-1111-1112", "+44 20 7946 0958", "(555) 123-4567", "\u0663\u0663\u0663\u0663\u0663\u0663\u0663\u0663", "\uff11\uff12\uff13", "2024-05-01",
    "abcdefghijklmnopqrstuvwxyz0123456789", "ABCDEFGHIJKLMNOPQRSTUV", "\u212a", "\u0131", "\u017f", "\u0130", " ", "-", "_", ".", "=", "é",
])
_TEXTS = st.lists(_FRAGMENTS | st.text(max_size=8), max_size=12).map("".join)


@settings(max_examples=examples(600), deadline=None)
@given(text=_TEXTS)
def test_screens_never_change_what_is_redacted(text: str) -> None:
    redactor = Redactor(BUILTIN_ORDER, (("ticket", r"TCK-\d+"),))
    unscreened = text
    for _, step in redactor._steps:
        unscreened = step(unscreened)
    assert redactor.text(text) == unscreened


def test_a_text_with_nothing_to_redact_skips_every_pattern() -> None:
    redactor = Redactor(BUILTIN_ORDER)
    text = "I was charged twice for my card, please help"
    assert [bool(screen(text)) for screen, _ in redactor._steps if screen is not None] == [False] * len(BUILTIN_ORDER)
    assert redactor.text(text) == text


def test_case_folded_keys_and_tokens_still_pass_their_screen() -> None:
    redactor = Redactor(("bearer_token", "api_key"))
    assert redactor.text("BEARER abcdefgh1234") == "[REDACTED:bearer_token]"
    assert redactor.text("ap\u0131_key=abcdefgh1234") == "[REDACTED:api_key]"  # re folds the dotless i onto i
    assert redactor.text("\u017fk-" + "a" * 24) == "[REDACTED:api_key]"  # and the long s onto s


def test_short_texts_are_remembered_and_the_memo_stays_bounded() -> None:
    from handlers.redaction import MEMO_ENTRIES, MEMO_MAX_CHARS

    redactor = Redactor(("email",))
    assert redactor.text("mail a@b.io") == redactor.text("mail a@b.io") == "mail [REDACTED:email]"
    for index in range(MEMO_ENTRIES * 2 + 5):
        assert redactor.text(f"user{index}@example.com") == "[REDACTED:email]"
    assert len(redactor._memo) <= MEMO_ENTRIES
    long_text = "x" * MEMO_MAX_CHARS + " a@b.io"
    assert redactor.text(long_text) == "x" * MEMO_MAX_CHARS + " [REDACTED:email]"
    assert long_text not in redactor._memo
