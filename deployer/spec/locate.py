"""Pydantic errors -> located issues: `file:line:col: path: message`, with "did you mean" hints.

Every error location is mapped back to the YAML position it came from (discriminated-union
tags such as `steps` are dropped first, so `rollout.abort` is not taken for `rollout.steps`),
and a value that matched no branch of a union gets the message of the branch it meant.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from pydantic_core import ErrorDetails

from deployer.errors import Issue
from deployer.spec.models import OVERRIDABLE, AgentSpec
from deployer.spec.source import PathKey, SourceMap
from deployer.spec.types import PATTERN_HELP, FieldProblem

#: Error types that mean "this value has the wrong shape for this branch of a union".
_SHAPE_ERRORS = {
    "model_type", "dict_type", "model_attributes_type", "literal_error", "string_type", "list_type",
    "int_type", "int_parsing", "float_type", "float_parsing", "bool_type", "bool_parsing",
}
_SECTION_NOUNS = {"environments": "environment name", "actions": "action name", "alerts": "alert name",
                  "notifications": "notification name"}


def issues_from_errors(
    errors: list[ErrorDetails], source: SourceMap, *, prefix: PathKey = (), environment: str | None = None
) -> list[Issue]:
    """Map each pydantic error to `file:line:col: path: message`, with "did you mean" hints.

    With `environment`, the errors are those of the spec with that environment's overrides merged
    in: an error at a path the override wrote is placed inside the override.
    """
    out: list[Issue] = []
    for error in _collapse_unions(errors, source, prefix):
        loc = _without_tags((*prefix, *error["loc"]))
        problem = error.get("ctx", {}).get("error")
        if isinstance(problem, FieldProblem):
            loc = (*loc, problem.field)
        if environment is not None and loc and loc[0] in OVERRIDABLE:
            inside = ("environments", environment, *loc)
            if len(source.resolve(inside)[0]) > 3:
                loc = inside
        if "[key]" in loc:  # a mapping key itself is wrong (environments: {Production: ...})
            at = loc[: loc.index("[key]")]
            out.append(source.issue(at, _key_message(error, at), at_key=True))
            continue
        found, missing = source.resolve(loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(error["loc"][-1]) if error["loc"] else ""
            found_key = (*found[:-1], key) if found and found[-1] == key else found
            message = f"unknown key {key!r}" + _did_you_mean(key, found_key[:-1] if found_key else ())
            out.append(source.issue(found_key, message, at_key=True))
            continue
        if kind in {"union_tag_invalid", "union_tag_not_found"}:
            out.append(_tag_issue(error, found, source))
            continue
        path = (*found, *missing)
        out.append(source.issue(path, _message(error, missing, path)))
    return out


def _without_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """`loc` without the tags of discriminated unions: ("rollout", "steps", "abort") is rollout.abort
    of a `strategy: steps` rollout, not something under its `steps:` list (one tag per union)."""
    out: list[Any] = []
    stripped: set[tuple[Any, ...]] = set()
    for segment in loc:
        path = tuple(out)
        if isinstance(segment, str) and path and path not in stripped and segment in _discriminator_values(path):
            stripped.add(path)
            continue
        out.append(segment)
    return tuple(out)


def _collapse_unions(errors: list[ErrorDetails], source: SourceMap, prefix: PathKey) -> list[ErrorDetails]:
    """Keep, for a value that matched no branch of a union, only the errors of the branch it meant.

    `redaction: [ssn]` fails both `Literal[...]` and `RedactionPattern`; reporting both is noise.
    A branch whose only complaint is the value's shape is dropped when another branch got further;
    when every branch failed on shape, one message lists what would have been accepted.
    """
    groups: dict[tuple[Any, ...], dict[Any, list[ErrorDetails]]] = {}
    out: list[ErrorDetails] = []
    for error in errors:
        loc = (*prefix, *error["loc"])
        index = _branch_index(loc, source)
        if index is None:
            out.append(error)
        else:
            groups.setdefault(loc[:index], {}).setdefault(loc[index], []).append(error)
    for at, branches in groups.items():
        if len(branches) == 1:
            out.extend(next(iter(branches.values())))
            continue
        depth = len(at) + 1
        deeper = {tag: errs for tag, errs in branches.items()
                  if not all(len(prefix) + len(e["loc"]) == depth and e["type"] in _SHAPE_ERRORS for e in errs)}
        if deeper:
            for errs in deeper.values():
                out.extend(errs)
            continue
        first = next(iter(branches.values()))[0]
        literal = next((errs[0] for errs in branches.values() if errs[0]["type"] == "literal_error"), None)
        if literal is not None and isinstance(first.get("input"), str):
            out.append(literal)
            continue
        accepted = " or ".join(dict.fromkeys(_accepted(errs[0]) for errs in branches.values()))
        merged: Any = {**first, "type": "union_mismatch", "msg": f"expected {accepted}, got {_describe(first.get('input'))}"}
        out.append(merged)
    return out


def _branch_index(loc: tuple[Any, ...], source: SourceMap) -> int | None:
    """Where in `loc` a union branch tag sits (`literal[...]`, `RedactionPattern`, `str`), if anywhere."""
    for index, segment in enumerate(loc):
        if not isinstance(segment, str) or (*loc[:index], segment) in source.values:
            continue
        if "[" in segment or segment[:1].isupper() or segment in {"str", "int", "float", "bool", "list", "dict"}:
            return index if segment != "[key]" else None
    return None


def _accepted(error: Any) -> str:
    return {"model_type": "a mapping", "dict_type": "a mapping", "model_attributes_type": "a mapping",
            "string_type": "text", "list_type": "a list", "int_type": "a whole number", "int_parsing": "a whole number",
            "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
            "bool_parsing": "true or false"}.get(error["type"], "one of " + str(error.get("ctx", {}).get("expected", "")))


def _key_message(error: Any, at: PathKey) -> str:
    noun = _SECTION_NOUNS.get(str(at[-2]) if len(at) >= 2 else "", "key")
    pattern = error.get("ctx", {}).get("pattern")
    if pattern in PATTERN_HELP:
        return f"{noun} {error['input']!r} is not allowed; use {PATTERN_HELP[pattern]}"
    return f"{noun} {error['input']!r}: {_message(error, [], at)}"


def _tag_issue(error: Any, found: PathKey, source: SourceMap) -> Issue:
    ctx = error.get("ctx", {})
    discriminator = str(ctx.get("discriminator", "type")).strip("'")
    tags = _discriminator_values(found)
    expected = ", ".join(tags)
    if error["type"] == "union_tag_not_found":
        return source.issue(found, f"missing key {discriminator!r}, which says what kind of entry this is: one of {expected}")
    tag = str(ctx.get("tag"))
    tags = [t.strip("'") for t in str(ctx.get("expected_tags", "")).split(", ") if t] or tags
    hint = _closest(tag, tags)
    return source.issue((*found, discriminator), f"unknown {discriminator} {tag!r}; expected one of {', '.join(tags)}{hint}")


def _message(error: Any, missing: list[str], path: PathKey) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx", {})
    if kind == "missing":
        return f"missing required key {missing[0]!r}" if missing else "missing required value"
    if kind == "union_mismatch":
        return str(error["msg"])
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return f"expected a mapping of keys, got {_describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}"
    if kind == "literal_error":
        allowed = [part.strip("'") for part in re.split(r", | or ", str(ctx.get("expected", ""))) if part]
        listed = ", ".join(allowed)
        return f"expected one of {listed}, got {_show(value)}" + (_closest(value, allowed) if isinstance(value, str) else "")
    if kind == "string_pattern_mismatch":
        what = str(path[-1]) if path else "value"
        help_text = PATTERN_HELP.get(str(ctx.get("pattern")))
        if help_text:
            return f"{_show(value)} is not a valid {what}; use {help_text}"
    simple: dict[str, Callable[[], str]] = {
        "greater_than_equal": lambda: f"must be at least {_show(ctx.get('ge'))}, got {_show(value)}",
        "less_than_equal": lambda: f"must be at most {_show(ctx.get('le'))}, got {_show(value)}",
        "greater_than": lambda: f"must be greater than {_show(ctx.get('gt'))}, got {_show(value)}",
        "less_than": lambda: f"must be less than {_show(ctx.get('lt'))}, got {_show(value)}",
        "int_parsing": lambda: f"expected a whole number, got {_show(value)}",
        "int_type": lambda: f"expected a whole number, got {_wrong_scalar(value)}",
        "int_from_float": lambda: f"expected a whole number, got {_show(value)}",
        "float_parsing": lambda: f"expected a number, got {_show(value)}",
        "float_type": lambda: f"expected a number, got {_wrong_scalar(value)}",
        "finite_number": lambda: f"expected a finite number, got {_show(value)}; write a number such as 5",
        "bool_parsing": lambda: f"expected true or false, got {_show(value)}",
        "bool_type": lambda: f"expected true or false, got {_wrong_scalar(value)}",
        "string_type": lambda: f"expected text, got {_describe(value)}" + ("; quote it" if isinstance(value, (int, float)) else ""),
        "string_too_short": lambda: "must not be empty",
        "too_short": lambda: f"needs at least {ctx.get('min_length')} entr{'y' if ctx.get('min_length') == 1 else 'ies'}",
        "too_long": lambda: f"has {ctx.get('actual_length')} entries; at most {ctx.get('max_length')} are allowed",
    }
    if kind in simple:
        return simple[kind]()
    text = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = text[:1].lower() + text[1:]
    if kind != "value_error" and not isinstance(value, (dict, list)) and value is not None:
        return f"{text}, got {_show(value)}"
    return text


def _wrong_scalar(value: Any) -> str:
    """A value of the wrong scalar type, as the YAML author wrote it."""
    if isinstance(value, bool):
        return (f"{str(value).lower()}, a boolean (YAML reads yes, no, on, off, true and false as booleans; "
                "write the number)")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _show(value)
    return _describe(value)


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    kinds = {bool: "true/false", int: "the number", float: "the number", str: "text"}
    return f"{kinds.get(type(value), type(value).__name__)} {_show(value)}"


def _closest(word: str, candidates: list[str], cutoff: float = 0.6) -> str:
    """`; did you mean 'x'?` for the closest candidate, or nothing."""
    import difflib  # only when there is a problem to explain: keeps `deployer validate` quick to start

    close = difflib.get_close_matches(word, candidates, n=1, cutoff=cutoff)
    return f"; did you mean {close[0]!r}?" if close else ""


def _did_you_mean(key: str, parent: PathKey) -> str:
    candidates = allowed_keys(parent)
    if not candidates:
        return ""
    return _closest(key, candidates) or f"; expected one of: {', '.join(sorted(candidates))}"


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return AgentSpec.model_json_schema()


def _schema_nodes(path: PathKey) -> list[dict[str, Any]]:
    """The schema nodes that can describe the value at `path` (every union branch)."""
    schema = _schema()
    defs = schema.get("$defs", {})
    if len(path) >= 3 and path[0] == "environments" and path[2] in OVERRIDABLE:
        path = (path[2], *path[3:])  # an environment's override has the section's keys
    nodes = [schema]
    for segment in path:
        nodes = [child for node in nodes for child in _children(_expand(node, defs), segment, defs)]
    return nodes


def allowed_keys(path: PathKey) -> list[str]:
    """The keys the schema allows in the mapping at `path` (all union branches together)."""
    defs = _schema().get("$defs", {})
    keys: set[str] = set()
    for node in _schema_nodes(path):
        for branch in _expand(node, defs):
            keys.update(branch.get("properties", {}))
    return sorted(keys)


def _discriminator_values(path: PathKey) -> list[str]:
    """The kinds a discriminated union at `path` accepts (`canary`, `linear`, ...), in schema order."""
    values: list[str] = []
    for node in _schema_nodes(path):
        mapping = node.get("discriminator", {}).get("mapping", {})
        by_ref = {ref: tag for tag, ref in mapping.items()}
        ordered = [by_ref[b["$ref"]] for b in node.get("oneOf", []) if b.get("$ref") in by_ref] or list(mapping)
        values.extend(v for v in ordered if v not in values)
    return values


def _expand(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in node:
        return _expand(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    branches = node.get("anyOf") or node.get("oneOf")
    if branches:
        return [leaf for branch in branches for leaf in _expand(branch, defs)]
    return [node]


def _children(branches: list[dict[str, Any]], segment: str | int, defs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for node in branches:
        if isinstance(segment, int) and isinstance(node.get("items"), dict):
            yield node["items"]
        elif isinstance(segment, str) and segment in node.get("properties", {}):
            yield node["properties"][segment]
        elif isinstance(node.get("additionalProperties"), dict):
            yield node["additionalProperties"]
        elif isinstance(segment, str) and isinstance(node.get("patternProperties"), dict):
            yield from node["patternProperties"].values()  # mappings keyed by name (environments, alerts, ...)
