"""Parsed regular expression items (`re._parser`) shown back as regex text, for messages."""

from __future__ import annotations

import importlib
import re
from typing import Any

C: Any = importlib.import_module("re._constants")

_AT = {C.AT_BEGINNING: "^", C.AT_BEGINNING_STRING: "\\A", C.AT_END: "$", C.AT_END_STRING: "\\Z",
       C.AT_BOUNDARY: "\\b", C.AT_NON_BOUNDARY: "\\B"}
_CATEGORY_TEXT = {C.CATEGORY_DIGIT: "\\d", C.CATEGORY_NOT_DIGIT: "\\D", C.CATEGORY_SPACE: "\\s",
                  C.CATEGORY_NOT_SPACE: "\\S", C.CATEGORY_WORD: "\\w", C.CATEGORY_NOT_WORD: "\\W"}


def show(items: Any, limit: int = 40) -> str:
    """Parsed pattern items as regex text, in backquotes, shortened to `limit` characters."""
    text = _render(items)
    return f"`{text if len(text) <= limit else text[: limit - 3] + '...'}`"


def _render(items: Any) -> str:
    parts = [_render_item(op, av) for op, av in items]
    if len(parts) > 1:
        parts = [f"(?:{part})" if op == C.BRANCH else part for (op, _), part in zip(items, parts, strict=True)]
    return "".join(parts)


def _render_item(op: Any, av: Any) -> str:
    if op == C.LITERAL:
        return re.escape(chr(av))
    if op == C.NOT_LITERAL:
        return f"[^{re.escape(chr(av))}]"
    if op == C.ANY:
        return "."
    if op == C.IN:
        if len(av) == 1 and av[0][0] == C.CATEGORY:
            return _CATEGORY_TEXT.get(av[0][1], "?")
        return "[" + "".join(_class_part(o, a) for o, a in av) + "]"
    if op == C.AT:
        return _AT.get(av, "")
    if op == C.SUBPATTERN:
        return f"({'' if av[0] else '?:'}{_render(av[-1])})"
    if op == C.BRANCH:
        return "|".join(_render(alt) for alt in av[1])
    if op == C.GROUPREF:
        return f"\\{av}"
    if op in (C.ASSERT, C.ASSERT_NOT):
        kind = ("=" if op == C.ASSERT else "!") if av[0] >= 0 else ("<=" if op == C.ASSERT else "<!")
        return f"(?{kind}{_render(av[1])})"
    if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
        low, high, body = av
        inner = _render(body)
        if len(body) > 1 or (len(body) == 1 and body[0][0] in (C.BRANCH, C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT)):
            inner = f"(?:{inner})"
        unlimited = high == C.MAXREPEAT
        quantifier = {(0, True): "*", (1, True): "+"}.get((low, unlimited)) or (
            "?" if (low, high) == (0, 1) else f"{{{low}}}" if low == high else f"{{{low},{'' if unlimited else high}}}")
        return inner + quantifier + {C.MIN_REPEAT: "?", C.POSSESSIVE_REPEAT: "+"}.get(op, "")
    return "..."


def _class_part(op: Any, av: Any) -> str:
    if op == C.NEGATE:
        return "^"
    if op == C.LITERAL:
        return re.escape(chr(av))
    if op == C.RANGE:
        return f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}"
    if op == C.CATEGORY:
        return _CATEGORY_TEXT.get(av, "")
    return ""
