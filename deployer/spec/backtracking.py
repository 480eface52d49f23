"""A static check that a redaction pattern cannot backtrack catastrophically.

Python's `re` backtracks, so some patterns take exponential or polynomial time on a long text
that almost matches, and the runtime runs these patterns on every logged request. The spec
refuses, at its line, a pattern that has one of these shapes (each explained in docs/runtime.md):

1. A repetition whose iterations can split the same text in several ways: a repeated group that
   contains a repetition of the characters it can start or end with, `(a+)+`, `(\\w+\\s?)*`, or a
   repeated group that can match nothing, `(a*)*` (exponential).
2. A repeated alternation whose alternatives can start with the same character: `(a|ab)*`,
   `(\\w|\\d)+` (exponential).
3. Two unlimited repetitions in a row that can match the same characters, with nothing between
   them that the first cannot match: `\\d+\\d+`, `.*=.*` (polynomial).
4. A pattern that starts with an unlimited repetition that something must follow, not anchored
   by `^`, `\\b` or a lookbehind: `\\w+@corp` tries every position of a long word and scans the rest
   of it each time (quadratic). `(?<![\\w.])[\\w.]+@corp` or `\\w{1,64}@corp` are fine.
5. Bounded repetitions that multiply to more than `MAX_WAYS` ways of matching at one position:
   `(\\w{1,10}){1,10}`.

"Unlimited" means `*`, `+`, `{n,}` or an upper bound above 256. Small bounded repetitions may
overlap as long as their ways stay few (`(?:[ -]?\\d{2,4}){1,3}`). The check reads the
pattern with the standard library's own parser (`re._parser`); characters are compared on a probe
alphabet (ASCII and a few others), so it errs on the side of refusing.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from deployer.spec.pattern_text import show as _show

#: The standard library's own regex parser and opcodes (Python 3.11+; not typed, hence Any).
sre: Any = importlib.import_module("re._parser")
C: Any = importlib.import_module("re._constants")

#: A bounded repetition above this many counts as unlimited.
MAX_BOUNDED = 256
#: The most ways a pattern may have to match at one position (bounded repetitions multiply).
MAX_WAYS = 100_000
ALPHABET = frozenset(map(chr, range(128))) | frozenset("\u00e9\u03bb\u00a0\u20ac\u4e2d\u0663\u2028")
_WORD = frozenset(c for c in ALPHABET if c.isalnum() or c == "_")
_CATEGORIES = {
    C.CATEGORY_DIGIT: frozenset(c for c in ALPHABET if c.isdecimal()),
    C.CATEGORY_SPACE: frozenset(c for c in ALPHABET if c.isspace()),
    C.CATEGORY_WORD: _WORD,
}
_NEGATED = {C.CATEGORY_NOT_DIGIT: C.CATEGORY_DIGIT, C.CATEGORY_NOT_SPACE: C.CATEGORY_SPACE, C.CATEGORY_NOT_WORD: C.CATEGORY_WORD}
_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Shape:
    """What a piece of a pattern can match, as far as backtracking is concerned."""

    first: frozenset[str]  # characters a non-empty match can start with
    chars: frozenset[str]  # characters it can consume anywhere
    nullable: bool  # it can match nothing
    elastic: bool  # it can give characters back when the engine backtracks
    unlimited: bool  # it holds an unlimited repetition
    ways: float = 1.0  # about how many ways it can match at one position (what backtracking may try)


_ZERO_WIDTH = Shape(_EMPTY, _EMPTY, True, False, False)


class _Risk(Exception):
    pass


def backtracking_risk(pattern: str) -> str | None:
    """Why `pattern` can take more than linear time on some text (a sentence), or None."""
    try:
        parsed = sre.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None  # not a valid pattern: the compile check says so
    ignorecase = bool(parsed.state.flags & re.IGNORECASE) or "(?i" in pattern or "(?ai" in pattern
    try:
        _Checker(ignorecase).check(list(parsed))
    except _Risk as risk:
        return f"{risk}; see docs/runtime.md, \"Redaction\""
    except RecursionError:
        return "the pattern nests too deeply to check for slow backtracking; simplify it"
    return None


def _alternatives(items: list[Any]) -> list[list[Any]]:
    if len(items) == 1 and items[0][0] == C.BRANCH:
        return [list(alt) for alt in items[0][1][1]]
    return [items]


def _flatten(items: Any) -> list[tuple[Any, Any]]:
    """The items of a sequence with plain groups opened: `a(b+)c` is a, b+, c."""
    out: list[tuple[Any, Any]] = []
    for op, av in items:
        if op == C.SUBPATTERN:
            out += _flatten(av[-1])
        else:
            out.append((op, av))
    return out


class _Checker:
    def __init__(self, ignorecase: bool) -> None:
        self.ignorecase = ignorecase
        self._shapes: dict[tuple[Any, int], Shape] = {}  # by node: nested groups are looked at once each

    def _fold(self, chars: frozenset[str]) -> frozenset[str]:
        if not self.ignorecase:
            return chars
        return chars | frozenset(c.swapcase() for c in chars if c.swapcase() in ALPHABET)

    def _one(self, chars: frozenset[str]) -> Shape:
        chars = self._fold(chars)
        return Shape(chars, chars, False, False, False)

    def check(self, items: Any) -> None:
        shape = self.sequence(items)
        if shape.ways > MAX_WAYS:
            raise _Risk(f"can backtrack too much: its repetitions can match at one position in about {_count(shape.ways)} "
                        f"ways (at most {MAX_WAYS:,} are allowed), and a long text is tried at every position; use fewer "
                        "or smaller bounds, or separate the repetitions with characters they cannot match")
        for branch in _alternatives(items):
            self.leading(branch)

    # -- shapes -------------------------------------------------------------------------------

    def sequence(self, items: Any) -> Shape:
        """The shape of a sequence, after checking it for rule 3 (two unlimited repetitions in a row)."""
        flat = _flatten(items)
        shapes = [self.item(op, av) for op, av in flat]
        # unlimited repetitions that may still be extending, with the characters each must have
        # crossed since (a later repetition that cannot cross one of them scans only up to it)
        open_: list[tuple[frozenset[str], tuple[Any, Any], list[frozenset[str]]]] = []
        for (op, av), shape in zip(flat, shapes, strict=True):
            if shape.unlimited:
                for chars, earlier, crossed in open_:
                    if shape.first & chars and all(shape.chars & sep for sep in crossed):
                        raise _Risk(f"is slow on long input: {_show([earlier])} and {_show([(op, av)])} can match the "
                                    "same characters one after the other, so every way of splitting a long text between "
                                    "them is tried (polynomial time); separate them with something the first cannot "
                                    "match, or bound them, e.g. {1,64}")
            if not shape.nullable:
                open_ = [(chars, earlier, [*crossed, shape.chars]) for chars, earlier, crossed in open_
                         if shape.first & chars]
            if shape.unlimited and shape.elastic:
                open_.append((shape.chars, (op, av), []))
        return _concat(shapes)



    def item(self, op: Any, av: Any) -> Shape:
        key = (op, id(av))
        if key not in self._shapes:
            self._shapes[key] = self._item(op, av)
        return self._shapes[key]

    def _item(self, op: Any, av: Any) -> Shape:
        if op == C.LITERAL:
            return self._one(frozenset(chr(av)))
        if op == C.NOT_LITERAL:
            return self._one(ALPHABET - self._fold(frozenset(chr(av))))
        if op == C.ANY:
            return self._one(ALPHABET)
        if op == C.IN:
            return self._one(self._class(av))
        if op == C.AT:
            return _ZERO_WIDTH
        if op in (C.ASSERT, C.ASSERT_NOT):
            self.sequence(av[1])
            return _ZERO_WIDTH
        if op == C.SUBPATTERN:
            return self.sequence(av[-1])
        if op == C.ATOMIC_GROUP:
            inner = self.sequence(av)
            return Shape(inner.first, inner.chars, inner.nullable, False, inner.unlimited)
        if op == C.BRANCH:
            alts = [self.sequence(alt) for alt in av[1]]
            widths = {alt.getwidth() for alt in av[1]}
            elastic = any(a.elastic for a in alts) or len(widths) > 1 or any(low != high for low, high in widths)
            return Shape(_union(a.first for a in alts), _union(a.chars for a in alts), any(a.nullable for a in alts),
                         elastic, any(a.unlimited for a in alts), sum(a.ways for a in alts))
        if op == C.GROUPREF_EXISTS:
            alts = [self.sequence(alt) for alt in av[1:] if alt is not None]
            return Shape(ALPHABET, ALPHABET, True, True, any(a.unlimited for a in alts), sum(a.ways for a in alts))
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            return self.repeat(op, av)
        return Shape(ALPHABET, ALPHABET, True, True, True, MAX_BOUNDED)  # a backreference, or anything unforeseen

    def _class(self, items: Any) -> frozenset[str]:
        chars: set[str] = set()
        negate = False
        for op, av in items:
            if op == C.NEGATE:
                negate = True
            elif op == C.LITERAL:
                chars.add(chr(av))
            elif op == C.RANGE:
                chars.update(c for c in ALPHABET if av[0] <= ord(c) <= av[1])
            elif op == C.CATEGORY:
                if av in _CATEGORIES:
                    chars |= _CATEGORIES[av]
                else:
                    chars |= ALPHABET - _CATEGORIES.get(_NEGATED.get(av), _EMPTY)
        found = self._fold(frozenset(chars))
        return ALPHABET - found if negate else found

    def repeat(self, op: Any, av: Any) -> Shape:
        low, high, body_items = av
        body = self.sequence(body_items)
        unlimited = high == C.MAXREPEAT or high > MAX_BOUNDED
        elastic = op != C.POSSESSIVE_REPEAT and (low != high or body.elastic)
        counts = min(high, MAX_BOUNDED) - low + 1
        ways = 1.0 if op == C.POSSESSIVE_REPEAT else body.ways + counts
        if op != C.POSSESSIVE_REPEAT and high > 1:
            if body.nullable and unlimited:
                raise _Risk(f"can backtrack catastrophically: {_show([(op, av)])} repeats something that can match "
                            "nothing, so a long text is tried in exponentially many ways; make the repeated part match "
                            "at least one character")
            if self._ambiguous(op, av, body, fatal=unlimited or body.unlimited):
                ways = body.ways ** min(high, 64) * counts
        return Shape(body.first, body.chars, low == 0 or body.nullable, elastic, unlimited or body.unlimited,
                     min(ways, 1e18))

    def _ambiguous(self, op: Any, av: Any, body: Shape, *, fatal: bool) -> bool:
        """Rules 1 and 2: whether the text alone decides each iteration of a repetition (raises when
        it does not and the repetition is unlimited)."""
        flat = _flatten(av[2])
        shapes = [self.item(o, a) for o, a in flat]
        for index, ((o, a), shape) in enumerate(zip(flat, shapes, strict=True)):
            if o == C.BRANCH:
                alts = [self.sequence(alt) for alt in a[1]]
                for i, left in enumerate(alts):
                    if any(left.first & right.first for right in alts[i + 1:]):
                        if not fatal:
                            return True
                        raise _Risk(f"can backtrack catastrophically: in {_show([(op, av)])} the alternatives of "
                                    f"{_show([(o, a)])} can start with the same character, so a long text is tried in "
                                    "exponentially many ways; make them start differently (factor out the common "
                                    "start: ca(?:t|r) rather than cat|car)")
            if not shape.elastic:
                continue
            follow: frozenset[str] = _EMPTY
            for later in shapes[index + 1:]:
                follow |= later.first
                if not later.nullable:
                    break
            else:
                follow |= body.first  # the next iteration may start right after it
            if shape.chars & follow:
                if not fatal:
                    return True
                raise _Risk(f"can backtrack catastrophically: in {_show([(op, av)])} the inner {_show([(o, a)])} can "
                            "also match what comes after it, so the repetitions can split a long text in exponentially "
                            "many ways; make each repetition start or end with a character the inner part cannot "
                            "match, e.g. (?:\\.\\w+)* rather than (?:\\w+\\.?)*")
        return False

    def leading(self, items: Any, guard: frozenset[str] = _EMPTY, last: Shape | None = None,
                tail_nullable: bool = True) -> bool:
        """Rule 4: the first unlimited repetition must be anchored, follow a character it cannot match,
        or end the match. True when settled; raises when it is not; False when `items` hold none."""
        flat = _flatten(items)
        shapes = [self.item(op, av) for op, av in flat]
        for index, ((op, av), shape) in enumerate(zip(flat, shapes, strict=True)):
            rest_nullable = tail_nullable and all(s.nullable for s in shapes[index + 1:])
            if op == C.AT and av in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
                return True
            if op == C.AT and av == C.AT_BOUNDARY:
                guard |= _WORD
            elif op == C.ASSERT_NOT and av[0] < 0:
                guard |= self.sequence(av[1]).chars
            if shape.unlimited:
                if (last is not None and not (last.chars & shape.chars)) or shape.chars <= guard:
                    return True
                if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT) and not _single(av[2]):
                    # a repeated group: its first iteration must start well (a second mandatory
                    # iteration follows it), and an unlimited one scans like a repeated character
                    self.leading(av[2], guard, last, rest_nullable and av[0] <= 1)
                    if av[1] <= MAX_BOUNDED or rest_nullable:
                        return True
                if op == C.BRANCH:
                    for alt in av[1]:
                        self.leading(alt, guard, last, rest_nullable)
                    return True
                if op == C.ATOMIC_GROUP:
                    return self.leading(av, guard, last, rest_nullable) or True
                if rest_nullable:
                    return True  # nothing has to follow: once it starts, it matches
                raise _Risk(f"is slow on long input: it starts with the unlimited {_show([(op, av)])}, so on a long "
                            "run of those characters every position starts an attempt that scans the rest of the run "
                            "(quadratic time); anchor it with a lookbehind of the same characters, e.g. "
                            "(?<![\\w.])[\\w.]+@, or bound it, e.g. {1,64}")
            if not shape.nullable:
                last = shape
        return False


def _single(items: Any) -> bool:
    """A repetition of one character (`a+`, `[ab]*`, `.{2,}`)."""
    flat = _flatten(items)
    return len(flat) == 1 and flat[0][0] in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN)


def _concat(shapes: list[Shape]) -> Shape:
    first: frozenset[str] = _EMPTY
    for shape in shapes:
        first |= shape.first
        if not shape.nullable:
            break
    # ways multiply along a chain of pieces that can trade characters; a piece that none of the
    # open ones can match settles them (what comes before it is tried once per way, not per pair)
    settled, chain, open_ = 0.0, 1.0, _EMPTY
    for shape in shapes:
        if shape.first & open_:
            chain *= shape.ways
        elif not shape.nullable:
            settled, chain, open_ = settled + chain, shape.ways, _EMPTY
        else:
            settled += shape.ways  # an optional piece none of the open ones can match: tried on its own
        if shape.elastic:
            open_ |= shape.chars
    return Shape(first, _union(s.chars for s in shapes), all(s.nullable for s in shapes),
                 any(s.elastic for s in shapes), any(s.unlimited for s in shapes), min(settled + chain, 1e18))


def _count(ways: float) -> str:
    return f"{ways:,.0f}" if ways < 1e9 else f"{ways:.0e}"


def _union(sets: Any) -> frozenset[str]:
    out: frozenset[str] = _EMPTY
    for chars in sets:
        out |= chars
    return out
