"""JSON-lines files a user hands over (evaluation sets, load-test inputs), read one way.

The file is streamed line by line (memory stays bounded by what the caller keeps), hashed as it
goes, and checked whole: every bad line is reported as `file:line: what is wrong` (the first 20,
then a count), not only the first. Lines end at `\\n` (and `\\r\\n`) only, as JSON Lines says: a
U+2028 inside a JSON string is text, not a line break. A line that is not UTF-8 is reported with
the byte and column, not decoded with replacement characters (which would change the input).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from deployer.errors import DeployerError

#: Problems listed in the error; past that, a count.
SHOWN_PROBLEMS = 20


class JsonLinesFile:
    """One JSON-lines file, open in a `with` block: `objects()` yields its JSON objects, the
    problems are kept for `check()`."""

    def __init__(self, path: str | Path, *, what: str, hint: str, max_bytes: int,
                 error: type[DeployerError] = DeployerError) -> None:
        self.path = Path(path)
        self._what, self._hint, self._max_bytes, self._error = what, hint, max_bytes, error
        self._sha256 = hashlib.sha256()
        self._handle: BinaryIO | None = None
        self.problems: list[str] = []

    def problem(self, number: int, message: str) -> None:
        """A bad line, by its 1-based number."""
        self.problems.append(f"{self.path}:{number}: {message}")

    def __enter__(self) -> JsonLinesFile:
        try:
            self._handle = self.path.open("rb")
        except OSError as exc:
            raise self._error(f"cannot read the {self._what} {self.path}: {exc.strerror or exc}",
                              hint=self._hint) from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._open().close()

    def _open(self) -> BinaryIO:
        if self._handle is None:
            raise RuntimeError("read a JsonLinesFile in a `with` block")
        return self._handle

    def objects(self, shape: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """(1-based line number, object) of each non-blank line; a line that is not a JSON object
        is a problem ("each line must be `shape`"). The caller may stop early: `sha256()` still
        covers the whole file."""
        handle, read, number = self._open(), 0, 0
        while raw := handle.readline(self._max_bytes - read + 1):  # one line is bounded too
            number += 1
            read += len(raw)
            self._over(read)
            self._sha256.update(raw)
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.problem(number, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                self.problem(number, f"not JSON ({exc.msg}, column {exc.colno})")
                continue
            except RecursionError:
                self.problem(number, "not usable JSON (nested too deeply)")
                continue
            if not isinstance(item, dict):
                self.problem(number, f"each line must be {shape}")
                continue
            yield number, item

    def more(self) -> bool:
        """Whether a non-blank line follows what was read (for a caller that stopped early). It is
        not parsed, and it is hashed: `sha256()` goes on after it."""
        handle = self._open()
        while raw := handle.readline(self._max_bytes - handle.tell() + 1):
            self._over(handle.tell())
            self._sha256.update(raw)
            if raw.strip():
                return True
        return False

    def sha256(self) -> str:
        """The hex SHA-256 of the whole file (the rest is read if the caller stopped early)."""
        handle = self._open()
        read = handle.tell()
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            read += len(chunk)
            self._over(read)
            self._sha256.update(chunk)
        return self._sha256.hexdigest()

    def check(self, heading: str) -> None:
        """Raise the error listing every problem (the first `SHOWN_PROBLEMS`), if there is any."""
        if self.problems:
            shown = self.problems[:SHOWN_PROBLEMS]
            if len(self.problems) > SHOWN_PROBLEMS:
                shown.append(f"... and {len(self.problems) - SHOWN_PROBLEMS} more")
            raise self._error(heading + "\n" + "\n".join(shown))

    def _over(self, read: int) -> None:
        if read > self._max_bytes:
            raise self._error(f"the {self._what} {self.path} is over {self._max_bytes // 2**20} MB", hint=self._hint)
