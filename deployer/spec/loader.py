"""Load `agent.yaml` into a validated `AgentSpec`, reporting every problem at once, located."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from deployer.errors import Issue, SpecError
from deployer.spec.models import OVERRIDABLE, AgentSpec
from deployer.spec.source import Document, PathKey, SourceMap, read_document
from deployer.spec.types import SECRET_REF_HINT


@dataclass(frozen=True)
class SpecOrigin:
    """Where a spec came from: its file, its directory, its raw data and positions."""

    file: str
    directory: Path
    data: dict[str, Any]
    source: SourceMap


class LoadedSpec:
    """A validated spec together with its origin (positions for later, cross-field errors)."""

    def __init__(self, spec: AgentSpec, origin: SpecOrigin) -> None:
        self.spec = spec
        self.origin = origin

    def __repr__(self) -> str:
        return f"LoadedSpec({self.spec.name!r}, file={self.origin.file!r})"


def load_spec(path: str | os.PathLike[str] = "agent.yaml") -> LoadedSpec:
    """Read, parse and validate a spec file. Raises `SpecError` listing every problem."""
    document = read_document(path, display=_display_name(path))
    return validate_document(document)


def validate_document(document: Document) -> LoadedSpec:
    source = document.source
    issues = list(scan_for_credentials(document.data, source))
    try:
        spec = AgentSpec.model_validate(document.data)
    except ValidationError as exc:
        issues.extend(issues_from_errors(exc.errors(include_url=False), source, prefix=()))
        raise SpecError(_dedupe(issues)) from None
    if issues:
        raise SpecError(_dedupe(issues))
    origin = SpecOrigin(source.file, document.path.resolve().parent, document.data, source)
    return LoadedSpec(spec, origin)


def _display_name(path: str | os.PathLike[str]) -> str:
    text = str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return rel if not rel.startswith("..") else text


def _dedupe(issues: list[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))


# --- pydantic errors -> located issues -------------------------------------------------------


def issues_from_errors(errors: list[ErrorDetails], source: SourceMap, *, prefix: PathKey) -> list[Issue]:
    """Map each pydantic error to `file:line:col: path: message`, with "did you mean" hints."""
    out: list[Issue] = []
    for error in errors:
        loc = (*prefix, *error["loc"])
        found, missing = source.resolve(loc)
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(error["loc"][-1]) if error["loc"] else ""
            found_key = (*found[:-1], key) if found and found[-1] == key else found
            message = f"unknown key {key!r}" + _did_you_mean(key, found_key[:-1] if found_key else ())
            out.append(source.issue(found_key, message, at_key=True))
            continue
        path = (*found, *missing)
        out.append(source.issue(path, _message(error, missing)))
    return out


def _message(error: Any, missing: list[str]) -> str:
    kind, msg, value = error["type"], error["msg"], error.get("input")
    if kind == "missing":
        return f"missing required key {missing[0]!r}" if missing else "missing required value"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        ctx = error.get("ctx", {})
        return f"missing key {ctx.get('discriminator', '').strip(chr(39))!r}, which says what kind of entry this is"
    text = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = text[:1].lower() + text[1:]
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return f"expected a mapping of keys, got {_describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}"
    if kind != "value_error" and not isinstance(value, (dict, list)) and value is not None:
        return f"{text}, got {value!r}"
    return text


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _did_you_mean(key: str, parent: PathKey) -> str:
    import difflib

    candidates = allowed_keys(parent)
    if not candidates:
        return ""
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; expected one of: {', '.join(sorted(candidates))}"


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return AgentSpec.model_json_schema()


def allowed_keys(path: PathKey) -> list[str]:
    """The keys the schema allows in the mapping at `path` (all union branches together)."""
    schema = _schema()
    defs = schema.get("$defs", {})
    if len(path) >= 3 and path[0] == "environments" and path[2] in OVERRIDABLE:
        path = (path[2], *path[3:])  # an environment's override has the section's keys
    nodes = [schema]
    for segment in path:
        nodes = [child for node in nodes for child in _children(_expand(node, defs), segment, defs)]
    keys: set[str] = set()
    for node in nodes:
        for branch in _expand(node, defs):
            keys.update(branch.get("properties", {}))
    return sorted(keys)


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
        else:
            yield from node.get("patternProperties", {}).values()


# --- credentials in plain text -----------------------------------------------------------------

_CREDENTIAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an AWS access key id", re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("an API key (sk-...)", re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Slack webhook URL with its token", re.compile(r"https://hooks\.slack\.com/(services|workflows)/\S+")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("a URL carrying a token", re.compile(r"https?://\S*[?&](token|key|api_key|apikey|secret|sig|signature|access_token|code)=[^&\s]{6,}", re.I)),
    ("a URL with a password", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.I)),
)


def scan_for_credentials(data: Any, source: SourceMap, path: PathKey = ()) -> Iterator[Issue]:
    """Yield an issue for every string value that looks like a credential or tokened URL."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from scan_for_credentials(value, source, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from scan_for_credentials(value, source, (*path, index))
    elif isinstance(data, str):
        for what, pattern in _CREDENTIAL_PATTERNS:
            if pattern.search(data):
                yield source.issue(path, f"looks like {what}; secrets never go in agent.yaml: {SECRET_REF_HINT}")
                break


def section_model(name: str) -> type[BaseModel] | None:
    """The model class of a top-level section, for validating environment overrides."""
    field = AgentSpec.model_fields.get(name)
    annotation = field.annotation if field else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
