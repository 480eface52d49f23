"""Redaction of personal data and credentials before anything is written.

Built-in patterns: `email`, `phone`, `card_number` (Luhn-checked), `iban` (mod-97-checked),
`aws_key`, `bearer_token`, `api_key` (`sk-...` keys, `api_key=...` / `x-api-key: ...` pairs, and
the string value of a JSON field named like `api_key`); custom `(name, regex)` patterns come from
the spec, which refuses patterns that can backtrack catastrophically. A match becomes
`[REDACTED:<name>]`. Redaction walks JSON values (dict keys are kept, string leaves are redacted).

Every built-in runs in linear time: each can start only where the text before it cannot continue
it (a lookbehind or a fixed prefix), and its repetitions are bounded or cannot overlap. Only the
first `MAX_REDACTED_CHARS` characters of a string are redacted and kept; the rest is dropped and
replaced by `[TRUNCATED:<n> characters]`, so nothing unredacted is ever written.

Most text holds nothing to redact, and a regex scan with a lookbehind at every position costs
about a microsecond per pattern on a sentence. So each built-in first runs a screen: a necessary
condition of its pattern that a C string operation decides (a digit for cards, IBANs and phones,
an `@` for emails, the literal prefixes of keys and tokens, case-folded as `re` folds them). A
screen that fails proves the pattern cannot match; the result is the same either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

#: The longest string redacted (and logged) whole; longer ones are cut here, at a space if one is near.
MAX_REDACTED_CHARS = 16_384
#: Redactions of strings up to this long are remembered, up to this many per redactor.
MEMO_MAX_CHARS = 64
MEMO_ENTRIES = 1024

_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")

BUILTIN_PATTERNS: dict[str, str] = {
    "bearer_token": r"(?i)\bbearer\s{1,16}[A-Za-z0-9\-._~+/]{8,}=*",
    "aws_key": r"(?<![A-Z0-9])(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}(?![A-Z0-9])",
    "api_key": (r"(?i)(?<![a-z0-9_-])sk-[a-z0-9_-]{20,}"
                r"|(?<![a-z0-9])(?:x-)?api[_-]?key[\"']?\s{0,3}[:=]\s{0,3}[\"']?[a-z0-9_\-./+=]{8,}"),
    "email": r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}",
    "iban": _IBAN.pattern,
    "phone": r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]?\d{2,4}){1,3}(?![\w])",
    "card_number": _CARD.pattern,
}
#: Order matters: credentials first; IBANs and cards before phones (their digits look like phone numbers).
BUILTIN_ORDER = ("bearer_token", "aws_key", "api_key", "email", "iban", "card_number", "phone")
#: JSON fields whose string value is an API key whatever it looks like.
_API_KEY_FIELD = re.compile(r"(?i)(?:x[-_])?api[-_]?key")
#: Field name -> is it an API-key field (names repeat from request to request); bounded.
_api_key_field_cache: dict[str, bool] = {}


def _is_api_key_field(key: str) -> bool:
    known = _api_key_field_cache.get(key)
    if known is None:
        known = _API_KEY_FIELD.fullmatch(key) is not None
        if len(_api_key_field_cache) < 4096:
            _api_key_field_cache[key] = known
    return known


def _folded(text: str) -> str:
    """`text` lower-cased as `re`'s IGNORECASE compares letters: it also takes dotless i for i and
    long s for s (the Kelvin sign and dotted capital I already lower-case to k and i)."""
    low = text.lower()
    return low if low.isascii() else low.replace("\u0131", "i").replace("\u017f", "s")


_any_digit = re.compile(r"\d").search  # `re`'s \d: any Unicode decimal digit, as the patterns read it


def _has_digit(text: str) -> object:
    if text.isascii():  # then \d is 0-9: ten C substring scans beat one regex scan several times over
        return ("0" in text or "1" in text or "2" in text or "3" in text or "4" in text or "5" in text
                or "6" in text or "7" in text or "8" in text or "9" in text)
    return _any_digit(text)


_has_aws_prefix = re.compile("A(?:KIA|SIA|ROA|IDA)").search

#: A necessary condition of each built-in pattern: when it is false the pattern cannot match.
SCREENS: dict[str, Callable[[str], object]] = {
    "bearer_token": lambda text: "bearer" in _folded(text),
    "aws_key": _has_aws_prefix,
    "api_key": lambda text: "sk-" in (folded := _folded(text)) or "api" in folded,
    "email": lambda text: "@" in text,
    "iban": _has_digit,
    "phone": _has_digit,
    "card_number": _has_digit,
}


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


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _redact_ibans(text: str) -> str:
    return _IBAN.sub(lambda m: "[REDACTED:iban]" if _iban_ok(m.group(0)) else m.group(0), text)


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
        #: (screen or None, step), in order; a step runs only when its screen passes on the text so far.
        self._steps: list[tuple[Callable[[str], object] | None, Callable[[str], str]]] = []
        #: The same steps, consecutive ones with the same screen together (IBAN, card, phone): the
        #: screen runs once for the group, since none of their labels holds a digit.
        self._groups: list[tuple[Callable[[str], object] | None, tuple[Callable[[str], str], ...]]] = []
        self._api_key_fields = "api_key" in wanted
        self._memo: dict[str, str] = {}
        for name in BUILTIN_ORDER:
            if name not in wanted:
                continue
            step: Callable[[str], str]
            if name == "card_number":
                step = _redact_cards
            elif name == "phone":
                step = _redact_phones
            elif name == "iban":
                step = _redact_ibans
            else:
                step = self._sub(name, BUILTIN_PATTERNS[name])
            self._steps.append((SCREENS[name], step))
        for name, pattern in patterns:
            self._steps.append((None, self._sub(name, pattern)))
        for screen, step in self._steps:
            if screen is not None and self._groups and self._groups[-1][0] is screen:
                self._groups[-1] = (screen, (*self._groups[-1][1], step))
            else:
                self._groups.append((screen, (step,)))

    @staticmethod
    def _sub(name: str, pattern: str) -> Callable[[str], str]:
        regex = re.compile(pattern)
        label = f"[REDACTED:{name}]"
        return lambda text: regex.sub(label, text)

    def __bool__(self) -> bool:
        return bool(self._steps)

    def text(self, text: str) -> str:
        """`text` redacted; above `MAX_REDACTED_CHARS` only its start is kept (and redacted).

        Strings of up to `MEMO_MAX_CHARS` characters are remembered (up to `MEMO_ENTRIES`, then the
        memo starts over): labels and other short outputs repeat from request to request, and the
        redaction of a text depends on nothing else.
        """
        if len(text) > MEMO_MAX_CHARS or text.__class__ is not str:
            return self._text(text)
        memo = self._memo
        redacted = memo.get(text)
        if redacted is None:
            redacted = self._text(text)
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()
            memo[text] = redacted
        return redacted

    def _text(self, text: str) -> str:
        dropped = ""
        if len(text) > MAX_REDACTED_CHARS:
            cut = text.rfind(" ", MAX_REDACTED_CHARS - 256, MAX_REDACTED_CHARS) + 1 or MAX_REDACTED_CHARS
            text, dropped = text[:cut], f"[TRUNCATED:{len(text) - cut} characters]"
        for screen, steps in self._groups:
            if screen is None or screen(text):
                for step in steps:
                    text = step(text)
        return text + dropped

    def field(self, key: object, item: str) -> str:
        """The string value of field `key` of a JSON object, redacted (all of it for an API-key field)."""
        if not self._steps:
            return item
        if self._api_key_fields and isinstance(key, str) and _is_api_key_field(key):
            return "[REDACTED:api_key]"
        return self.text(item)

    def redact(self, value: Any) -> Any:
        if not self._steps:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            field, redact = self.field, self.redact
            return {key: field(key, item) if isinstance(item, str) else redact(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact(item) for item in value]
        return value
