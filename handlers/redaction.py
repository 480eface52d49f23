"""Redaction of personal data and credentials before anything is written.

Built-in patterns: `email`, `phone`, `card_number` (Luhn-checked), `aws_key`, `bearer_token`;
custom `(name, regex)` patterns come from the spec. A match becomes `[REDACTED:<name>]`.
Redaction walks JSON values (dict keys are kept, string leaves are redacted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")

BUILTIN_PATTERNS: dict[str, str] = {
    "bearer_token": r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*",
    "aws_key": r"(?<![A-Z0-9])(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}(?![A-Z0-9])",
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    "phone": r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,3}(?![\w])",
}
#: Order matters: cards before phones (a card number also looks like a long phone number).
BUILTIN_ORDER = ("bearer_token", "aws_key", "email", "card_number", "phone")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _redact_cards(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "[REDACTED:card_number]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)

    return _CARD.sub(replace, text)


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")


def _phone_digits_ok(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if not 7 <= digits <= 15 or _DATE.fullmatch(text):
        return text
    return "[REDACTED:phone]"


_PHONE = re.compile(BUILTIN_PATTERNS["phone"])


def _redact_phones(text: str) -> str:
    return _PHONE.sub(_phone_digits_ok, text)


class Redactor:
    """Compiled once per policy; `redact(value)` returns a redacted copy of a JSON value."""

    def __init__(self, builtins: Iterable[str], patterns: Iterable[tuple[str, str]] = ()) -> None:
        wanted = set(builtins)
        unknown = wanted - set(BUILTIN_ORDER)
        if unknown:
            raise ValueError(f"unknown redaction builtins {sorted(unknown)}; known: {list(BUILTIN_ORDER)}")
        self._steps: list[Callable[[str], str]] = []
        for name in BUILTIN_ORDER:
            if name not in wanted:
                continue
            if name == "card_number":
                self._steps.append(_redact_cards)
            elif name == "phone":
                self._steps.append(_redact_phones)
            else:
                self._steps.append(self._sub(name, BUILTIN_PATTERNS[name]))
        for name, pattern in patterns:
            self._steps.append(self._sub(name, pattern))

    @staticmethod
    def _sub(name: str, pattern: str) -> Callable[[str], str]:
        regex = re.compile(pattern)
        label = f"[REDACTED:{name}]"
        return lambda text: regex.sub(label, text)

    def __bool__(self) -> bool:
        return bool(self._steps)

    def text(self, text: str) -> str:
        for step in self._steps:
            text = step(text)
        return text

    def redact(self, value: Any) -> Any:
        if not self._steps:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.redact(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact(item) for item in value]
        return value
