"""Collects located errors and warnings while compiling, so all are reported at once."""

from __future__ import annotations

from collections.abc import Iterable

from deployer.errors import Issue
from deployer.spec.models import OVERRIDABLE
from deployer.spec.repair import Unit
from deployer.spec.source import PathKey, SourceMap


class Problems:
    """Errors and warnings of one environment's compilation.

    A path into an overridable section (`alerts.errors.window`) is placed inside the
    environment's override when that environment wrote it, so the position points at the value
    that was actually used.

    `unsound` names the units of the spec replaced by stand-ins because of a shape error
    (`deployer.spec.repair`): a problem is not reported when its own unit is unsound, or one of
    the sections its rule `reads` ("environment": the fields of the environment being compiled),
    since it could be a consequence of the stand-in.
    """

    def __init__(self, source: SourceMap, environment: str | None = None, unsound: frozenset[Unit] = frozenset()) -> None:
        self.source = source
        self.environment = environment
        self.unsound = unsound
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    def error(self, path: PathKey, message: str, *, reads: tuple[str, ...] = ()) -> None:
        if self.sound(path, reads):
            self.errors.append(self.source.issue(self.where(path), message))

    def warn(self, path: PathKey, message: str, *, reads: tuple[str, ...] = ()) -> None:
        if self.sound(path, reads):
            self.warnings.append(self.source.issue(self.where(path), message, severity="warning"))

    def sound(self, path: PathKey, reads: tuple[str, ...] = ()) -> bool:
        """Whether a problem at `path`, from a rule that also `reads` these sections, is judged on
        sound parts of the spec only."""
        if not self.unsound or not path:
            return True
        if {(str(path[0]),), tuple(map(str, path[:2]))} & self.unsound:
            return False
        for section in reads:
            if section == "environment":
                if {("environments",), ("environments", str(self.environment))} & self.unsound:
                    return False
            elif any(unit[0] == section for unit in self.unsound):
                return False
        return True

    def where(self, path: PathKey) -> PathKey:
        """`path`, or the same path inside the environment's override if the override set it."""
        if self.environment is None or not path or path[0] not in OVERRIDABLE:
            return path
        inside = ("environments", self.environment, *path)
        return inside if inside in self.source.values else path

    def present(self, *paths: PathKey) -> PathKey:
        """The first of `paths` written in the file (after overrides), else the last one."""
        for path in paths:
            if self.where(path) in self.source.values:
                return path
        return paths[-1]


def defined(names: Iterable[str]) -> str:
    """`(defined: a, b)` for messages about a name that is not there."""
    known = sorted(names)
    return f"(defined: {', '.join(known)})" if known else "(none are defined)"


def did_you_mean(word: str, names: Iterable[str], cutoff: float = 0.6) -> str:
    """`; did you mean 'x'?` for the closest of `names`, or nothing."""
    import difflib  # only when there is a problem to explain: keeps `deployer validate` quick to start

    close = difflib.get_close_matches(word, list(names), n=1, cutoff=cutoff)
    return f"; did you mean {close[0]!r}?" if close else ""
