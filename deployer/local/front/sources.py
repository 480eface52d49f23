"""What a bundle is built from, as one hash: unchanged sources need no build.

Building the bundle (finding an interpreter, copying the dependencies, byte-compiling, hashing
every file) takes seconds, and it is deterministic: the same sources give the same bundle. So a
deploy first hashes what the build would read, cheaply (paths, sizes and modification times, not
contents): the code root's files (minus the directories a bundle never ships,
`deployer.bundle.SKIPPED_DIRS`) and its artifacts, the runtime package (`handlers/`), the
bundle builder's code (its module and `deployer/bundle/`), the resolved runtime configuration,
the requirements, the target Python and architecture, and this interpreter's version. Any edit
(a saved file changes its modification time) builds again.

Same hash, no build: the emulator uses the bundle of a version it published from those sources,
or takes it from `BundleCache` (`<cache dir>/local-bundles/<hash>`, hard-linked where the file
system allows), which keeps the last `BundleCache.KEEP` bundles any emulator of the project built.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from deployer.compiled import DeploymentModel


def _files(root: Path, skipped: frozenset[str]) -> Iterator[tuple[str, int, int]]:
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skipped and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(directory) / name
            try:
                stat = path.stat()
            except OSError:
                continue
            yield path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns


def source_hash(model: DeploymentModel, builder: Callable[..., object]) -> str:
    """The hash of everything `builder` reads to build `model`'s bundle (see the module docstring)."""
    import deployer.bundle
    import handlers
    from deployer.bundle import SKIPPED_DIRS
    from deployer.bundle.deps import runtime_requirements

    digest = hashlib.sha256()
    identity = f"{getattr(builder, '__module__', '')}.{getattr(builder, '__qualname__', repr(builder))}"
    fn = model.function
    head = [identity, list(model.code.requirements), list(runtime_requirements()), model.runtime_config(),
            fn.python, fn.architecture, list(sys.version_info[:2]), list(model.code.artifacts)]
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    code = Path(model.code.root)
    cache = frozenset({"__pycache__"})
    roots = [("code", code, SKIPPED_DIRS), ("runtime", Path(handlers.__file__).resolve().parent, cache),
             ("bundler", Path(deployer.bundle.__file__).resolve().parent, cache)]
    roots += [(f"artifact {a}", code / a, frozenset()) for a in model.code.artifacts]  # wherever they live
    builder_file = _source_file(builder)
    if builder_file is not None:
        roots.append(("builder", builder_file, cache))
    for label, root, skipped in roots:
        digest.update(f"\0{label}\0".encode())
        if root.is_dir():
            for entry in _files(root, skipped):
                digest.update(json.dumps(entry).encode())
        elif root.exists():
            stat = root.stat()
            digest.update(json.dumps([stat.st_size, stat.st_mtime_ns]).encode())
    return digest.hexdigest()[:32]


def _source_file(builder: Callable[..., object]) -> Path | None:
    """The file a builder's code is in (a function's, or a callable object's class's); None when unknown."""
    target = builder if inspect.isfunction(builder) or inspect.ismethod(builder) else type(builder)
    try:
        found = inspect.getsourcefile(target)
    except TypeError:  # built in: its name is all there is
        return None
    return Path(found) if found else None


class BundleCache:
    """Bundles built before, by any emulator of the project, by source hash (the newest `KEEP`)."""

    KEEP = 8
    MARK = ".deployer-source.json"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def fetch(self, sources: str, into: Path) -> tuple[Path, str] | None:
        """The cached bundle of `sources` placed at `into` (a new directory): (bundle dir, code hash)."""
        entry = self.directory / sources
        try:
            mark = json.loads((entry / self.MARK).read_text())
            _place(entry, into)
        except (OSError, ValueError):
            shutil.rmtree(into, ignore_errors=True)
            return None
        (into / self.MARK).unlink(missing_ok=True)
        os.utime(entry)  # recently used: pruned last
        return into / mark["bundle"], str(mark["code_hash"])

    def keep(self, sources: str, build: Path, bundle: Path, code_hash: str) -> None:
        """Remember the bundle built at `build` (best effort: a cache that cannot be written is no error)."""
        entry = self.directory / sources
        staging = self.directory / f".{sources}.{uuid.uuid4().hex[:8]}"
        try:
            _place(build, staging)
            mark = {"bundle": bundle.resolve().relative_to(build.resolve()).as_posix(), "code_hash": code_hash}
            (staging / self.MARK).write_text(json.dumps(mark))
            staging.rename(entry)
        except (OSError, ValueError):
            shutil.rmtree(staging, ignore_errors=True)
            return
        self._prune()

    def _prune(self) -> None:
        entries = sorted((p for p in self.directory.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[self.KEEP:]:
            shutil.rmtree(old, ignore_errors=True)


def _place(source: Path, target: Path) -> None:
    """A copy of the tree `source` at `target`: hard links where the file system allows, else copies."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target, copy_function=link, symlinks=True)
