"""Load `agent.yaml` into a validated `AgentSpec`, reporting every problem at once, located.

Problems of every kind come out of one run: YAML-level ones (duplicate keys, tags), credentials
written as values, shape errors (pydantic) and, for the sections that are sound, the compiler's
cross-field rules. For the last, the broken sections are replaced by stand-ins
(`deployer.spec.repair`) and the compiler checks what is left, reporting nothing that depends on
a broken section.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from deployer.errors import Issue, SpecError
from deployer.spec.credentials import scan_for_credentials
from deployer.spec.locate import issues_from_errors
from deployer.spec.models import AgentSpec
from deployer.spec.repair import Unit, repair, units_of
from deployer.spec.source import Document, SourceMap, dotted, read_document

__all__ = ["LoadedSpec", "SpecOrigin", "issues_from_errors", "load_spec", "scan_for_credentials", "validate_document"]


@dataclass(frozen=True)
class SpecOrigin:
    """Where a spec came from: its file, its directory, its raw data and positions."""

    file: str
    directory: Path
    data: dict[str, Any]
    source: SourceMap


class LoadedSpec:
    """A validated spec together with its origin (positions for later, cross-field errors).

    `unsound` is empty for a spec that loaded; for the stand-in spec checked beside shape errors
    it names the units that were replaced (their problems, and those that read them, are dropped).
    """

    def __init__(self, spec: AgentSpec, origin: SpecOrigin, unsound: frozenset[Unit] = frozenset()) -> None:
        self.spec = spec
        self.origin = origin
        self.unsound = unsound

    def __repr__(self) -> str:
        return f"LoadedSpec({self.spec.name!r}, file={self.origin.file!r})"


def load_spec(path: str | os.PathLike[str] = "agent.yaml") -> LoadedSpec:
    """Read, parse and validate a spec file. Raises `SpecError` listing every problem."""
    document = read_document(path, display=_display_name(path))
    return validate_document(document)


def validate_document(document: Document) -> LoadedSpec:
    """The spec of a parsed document, or `SpecError` with every problem of it (see the module doc)."""
    source = document.source
    issues = [*document.issues, *scan_for_credentials(document.data, source)]
    locations: list[tuple[Any, ...]] = list(document.spoiled)
    try:
        spec = AgentSpec.model_validate(document.data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        locations += [error["loc"] for error in errors]
        flagged = {(i.line, i.col, i.path) for i in issues}  # a credential is reported once, by the scan
        spoiled = {dotted(path) for path in document.spoiled}  # a refused value is not also "null"
        issues += [i for i in issues_from_errors(errors, source)
                   if (i.line, i.col, i.path) not in flagged and i.path not in spoiled]
    origin = SpecOrigin(source.file, document.path.resolve().parent, document.data, source)
    if not issues:
        return LoadedSpec(spec, origin)
    flagged = {(i.line, i.col, i.path) for i in issues}
    issues += [i for i in _problems_beside(origin, units_of(locations)) if (i.line, i.col, i.path) not in flagged]
    raise SpecError(_dedupe(issues))


def _problems_beside(origin: SpecOrigin, broken: set[Unit]) -> list[Issue]:
    """The compiler's problems in the sections that are sound, the broken ones replaced by stand-ins."""
    spec, data, broken = repair(origin.data, broken)
    if spec is None:
        return []
    from deployer.compiler import compile_problems  # the compiler builds on this module: imported only here

    stand_in = SpecOrigin(origin.file, origin.directory, data, origin.source)
    return compile_problems(LoadedSpec(spec, stand_in, frozenset(broken)))


def _display_name(path: str | os.PathLike[str]) -> str:
    text = str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return rel if not rel.startswith("..") else text


def _dedupe(issues: list[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))
