"""Collects located errors and warnings while compiling, so all are reported at once."""

from __future__ import annotations

from deployer.errors import Issue
from deployer.spec.source import PathKey, SourceMap


class Problems:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    def error(self, path: PathKey, message: str) -> None:
        self.errors.append(self.source.issue(path, message))

    def warn(self, path: PathKey, message: str) -> None:
        self.warnings.append(self.source.issue(path, message, severity="warning"))
