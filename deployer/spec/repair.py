"""Stand-ins for the broken parts of a spec, so that the rest of it can still be checked.

A shape error (a wrong type, a missing key) in one section must not hide the cross-field
problems of the others. `repair` replaces each broken *unit* (a top-level section, or one entry
of `actions`, `alerts`, `notifications`, `environments`) with a quiet stand-in: a default, or an
entry of the same name that no rule complains about. The compiler then checks the repaired spec
and drops every problem in, or depending on, a broken unit (`deployer.compiler.problems`); the
repaired spec itself is never deployed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError

from deployer.spec.models import AgentSpec
from deployer.spec.types import ENVIRONMENT_NAME_PATTERN, IDENTIFIER_PATTERN

#: ("alerts",) is the whole section, ("alerts", "errors") one entry.
Unit = tuple[str, ...]
#: Sections whose entries, by name, are units of their own.
NAMED = ("actions", "alerts", "notifications", "environments")
ROUNDS = 3

_ENTRY: dict[str, Any] = {
    "actions": None,
    "alerts": {"kind": "error_rate", "threshold": 0, "action": [], "rollback": False},
    "notifications": {"type": "email", "addresses": ["stand-in@example.com"]},
    "environments": {},
}


def _names(value: Any, pattern: str) -> list[str]:
    return [k for k in value if isinstance(k, str) and re.fullmatch(pattern, k)] if isinstance(value, dict) else []


_SECTION: dict[str, Callable[[Any], Any]] = {
    "name": lambda _: "stand-in",
    "code": lambda _: {"entrypoint": "agent:Agent"},
    "model": lambda _: {"provider": "python", "id": "model:load"},
    "actions": lambda old: dict.fromkeys(_names(old, IDENTIFIER_PATTERN) or ["action"]),
    "alerts": lambda old: {name: dict(_ENTRY["alerts"]) for name in _names(old, IDENTIFIER_PATTERN)},
    "notifications": lambda old: {name: dict(_ENTRY["notifications"]) for name in _names(old, IDENTIFIER_PATTERN)},
    "environments": lambda old: {name: {} for name in _names(old, ENVIRONMENT_NAME_PATTERN) or ["stand-in"]},
    "rollout": lambda _: {"strategy": "all_at_once", "alarms": []},
}


def units_of(locations: Iterable[tuple[Any, ...]]) -> set[Unit]:
    """The units that pydantic error locations (or document paths) fall in."""
    units: set[Unit] = set()
    for loc in locations:
        if not loc:
            continue
        head = str(loc[0])
        if head in NAMED and len(loc) > 1 and isinstance(loc[1], str) and loc[1] != "[key]":
            units.add((head, loc[1]))
        else:
            units.add((head,))
    return units


def repair(data: dict[str, Any], broken: set[Unit]) -> tuple[AgentSpec | None, dict[str, Any], set[Unit]]:
    """A valid spec with the broken units replaced, the data it came from, and every unit replaced.

    Replacing a unit can bring out an error elsewhere (a required key it held); a few rounds
    replace those too. (None, data, broken) if the spec still does not validate.
    """
    fixed = copy.deepcopy(data)
    for _ in range(ROUNDS):
        for unit in sorted(broken):
            _replace(fixed, unit)
        try:
            return AgentSpec.model_validate(fixed), fixed, broken
        except ValidationError as exc:
            more = units_of(error["loc"] for error in exc.errors(include_url=False)) - broken
            if not more:
                break
            broken = broken | more
    return None, fixed, broken


def _replace(data: dict[str, Any], unit: Unit) -> None:
    head = unit[0]
    if len(unit) == 1:
        if head in _SECTION:
            data[head] = _SECTION[head](data.get(head))
        else:
            data.pop(head, None)
        return
    section = data.get(head)
    if not isinstance(section, dict):
        data[head] = _SECTION[head](section)
        return
    name = unit[1]
    pattern = ENVIRONMENT_NAME_PATTERN if head == "environments" else IDENTIFIER_PATTERN
    if re.fullmatch(pattern, name):
        section[name] = copy.deepcopy(_ENTRY[head])
    else:
        section.pop(name, None)
    if not section:
        data[head] = _SECTION[head](None)
