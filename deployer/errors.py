"""The one error type that reaches the user.

Every expected failure becomes a `DeployerError` with a message that says what is wrong, where,
and how to fix it. The CLI prints it and exits with its `exit_code` (1 unless it says otherwise);
anything else is a bug (exit 2, traceback).
"""

from __future__ import annotations

from dataclasses import dataclass


class DeployerError(Exception):
    """An expected failure with a message meant for a person."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


@dataclass(frozen=True)
class Issue:
    """One problem in a spec file, located at `file:line:col` and a dotted `path`."""

    file: str
    line: int
    col: int
    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        label = "" if self.severity == "error" else f"{self.severity}: "
        return f"{where}: {self.path}: {label}{self.message}" if self.path else f"{where}: {label}{self.message}"


class SpecError(DeployerError):
    """A spec that cannot be used; carries every problem found, not only the first."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues, key=lambda i: (i.file, i.line, i.col, i.path))
        count = len(self.issues)
        summary = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__("\n".join([*map(str, self.issues), summary]))
