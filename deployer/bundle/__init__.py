"""The Lambda bundle: a directory Lambda (or the emulator) runs as is.

Layout (the task root, `/var/task` in Lambda)::

    deployer_config.json   the resolved spec (`DeploymentModel.runtime_config()`, code.root ".")
    handlers/              the runtime and SDK; entry point handlers.runtime.handler
    <agent code>           the code root's .py files and its declared artifacts
    <dependencies>         pydantic + code.requirements, manylinux wheels for the target Python
    **/__pycache__/*.pyc   hash-based (checked-hash), when an interpreter of the target version exists

The bundle is deterministic and content-addressed: its directory is named after the SHA-256 of
every file's path and bytes, so any change, including a config-only one, gives a new bundle.

An AWS environment's bundle is checked against Lambda's 250 MB unzipped limit once built
(`limits.BundleTooLarge`, with what to do); `estimate_size` gives the figure without building,
for `deployer validate`. A build reports each phase to an optional `progress` callback (a line
with the elapsed time; the CLI prints it on stderr): a first pip install can take minutes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deployer.bundle.deps import (
    cache_key,
    compile_tree,
    find_interpreter,
    install_dependencies,
    runtime_requirements,
)
from deployer.bundle.limits import (
    LAMBDA_UNZIPPED_LIMIT_BYTES,
    MB,
    BundleSize,
    cached_size,
    check_built,
    installed_size,
    largest_parts,
    tree_size,
)
from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError

#: Receives one line per build phase (with the elapsed time); library code never prints.
Progress = Callable[[str], None]

ENTRY_POINT = "handlers.runtime.handler"
CONFIG_FILE = "deployer_config.json"
MANIFEST_FILE = "deployer_bundle.json"
#: Directories of a code root never shipped.
SKIPPED_DIRS = frozenset({
    "__pycache__", "tests", "test", "handlers", "node_modules", "venv", "cdk.out", "build", "dist", "site-packages",
})

__all__ = ["ENTRY_POINT", "BundleInfo", "Progress", "build", "build_bundle", "bundle_hash", "estimate_size"]


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    hash: str
    files: int
    size_bytes: int
    python: str
    architecture: str
    requirements: tuple[str, ...]
    compiled: bool  # hash-based .pyc written (needs an interpreter of the target Python version)
    size: BundleSize | None = field(default=None, compare=False)  # unzipped size against Lambda's limit

    def manifest(self) -> dict[str, object]:
        return {
            "hash": self.hash, "entry_point": ENTRY_POINT, "files": self.files, "size_bytes": self.size_bytes,
            "python": self.python, "architecture": self.architecture, "requirements": list(self.requirements),
            "compiled": self.compiled,
        }


def build_bundle(model: DeploymentModel, out_dir: Path, *, progress: Progress | None = None) -> Path:
    """Build the bundle of `model` under `out_dir`; return its directory."""
    return build(model, out_dir, progress=progress).path


def default_cache_dir(model: DeploymentModel) -> Path:
    configured = os.environ.get("DEPLOYER_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(model.spec_file).resolve().parent / ".deployer" / "cache"


def build(model: DeploymentModel, out_dir: Path, *, cache_dir: Path | None = None,
          progress: Progress | None = None, limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES) -> BundleInfo:
    """Build the bundle and describe it (hash, size, whether `.pyc` files were written).

    An AWS environment's bundle over Lambda's unzipped limit raises `BundleTooLarge` once built
    (the directory stays, for a look); a local one only carries its size (the emulator runs it).
    """
    started = time.monotonic()

    def phase(message: str) -> None:
        if progress is not None:
            progress(f"bundle {model.environment}: [{time.monotonic() - started:6.1f}s] {message}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    python, arch = model.function.python, model.function.architecture
    requirements = (*runtime_requirements(), *model.code.requirements)
    phase(f"looking for python{python} (to byte-compile for Lambda)")
    interpreter = find_interpreter(python)
    deps = install_dependencies(
        requirements, architecture=arch, python=python,
        cache_dir=cache_dir or default_cache_dir(model), interpreter=interpreter, progress=phase,
    )
    staging = out_dir / f".staging-{uuid.uuid4().hex[:12]}"
    try:
        phase("copying dependencies, handlers, code and artifacts")
        shutil.copytree(deps, staging, ignore=shutil.ignore_patterns(".complete"))
        _copy_handlers(staging / "handlers")
        code_files = _copy_code(model, staging)
        config = model.runtime_config()
        config["code"] = {**config["code"], "root": "."}
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if interpreter:  # dependencies were compiled once, in the cache
            phase("byte-compiling handlers and code")
            compile_tree(interpreter, staging, [staging / "handlers", *code_files])
        phase("hashing")
        digest, files, size, parts = _digest(staging)
        final = out_dir / f"{model.agent}-{model.environment}-{digest[:16]}"
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(staging)  # the same content was built before (or concurrently)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    measured = BundleSize(model.environment, size, largest_parts(parts), limit_bytes=limit_bytes)
    info = BundleInfo(final, digest, files, size, python, arch, requirements, interpreter is not None, measured)
    (final / MANIFEST_FILE).write_text(json.dumps(info.manifest(), indent=1, sort_keys=True) + "\n")
    phase(f"done: {files:,} files, {size / MB:,.1f} MB unzipped ({size / measured.limit_bytes:.0%} of Lambda's {measured.limit_bytes / MB:,.0f} MB limit)")
    if model.target == "aws":
        check_built(measured, final)
    return info


def estimate_size(model: DeploymentModel, *, cache_dir: Path | None = None,
                  path: list[str] | None = None) -> BundleSize:
    """The unzipped size `build` would give, without building (see `deployer.bundle.limits`)."""
    python, arch = model.function.python, model.function.architecture
    requirements = (*runtime_requirements(), *model.code.requirements)
    cache = (cache_dir or default_cache_dir(model)) / "deps" / f"py{python}-{arch}-{cache_key(requirements, arch, python)}"
    parts: dict[str, int] = {}
    cached = cached_size(cache)
    if cached is not None:
        parts = dict(cached)
        missing: tuple[str, ...] = ()
        method = "dependencies from the cached install, code measured"
    else:
        parts, missing = installed_size(requirements, python=python, architecture=arch, path=path)
        method = "estimated from the distributions installed here, code measured"
    root = Path(model.code.root)
    if root.is_dir():
        parts["(agent code)"] = sum(2 * p.stat().st_size for p in _code_sources(root))  # source + .pyc
        for artifact in model.code.artifacts:
            source = root / artifact
            if source.exists():
                parts[artifact] = source.stat().st_size if source.is_file() else tree_size(source, frozenset({"__pycache__"}))
    import handlers.sdk

    parts["handlers"] = 2 * tree_size(Path(handlers.sdk.__file__).resolve().parent, frozenset({"__pycache__"}))
    return BundleSize(model.environment, sum(parts.values()), largest_parts(parts), exact=False, method=method,
                      not_counted=missing)


def _code_sources(root: Path) -> list[Path]:
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith("."))
        found += [Path(directory) / name for name in filenames if name.endswith(".py")]
    return found


def bundle_hash(path: Path) -> str:
    """The content hash of a built bundle (what its directory name starts with)."""
    return _digest(Path(path))[0]


def _copy_handlers(target: Path) -> None:
    import handlers.sdk

    source = Path(handlers.sdk.__file__).resolve().parent
    for file in sorted(source.rglob("*.py")):
        if "__pycache__" in file.parts:
            continue
        destination = target / file.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, destination)


def _copy_code(model: DeploymentModel, staging: Path) -> list[Path]:
    root = Path(model.code.root)
    copied: list[Path] = []
    if not root.is_dir():
        raise DeployerError(f"code.path {root} is not a directory", hint="code.path is relative to agent.yaml")
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                source = Path(directory) / name
                destination = staging / source.relative_to(root)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
                copied.append(destination)
    for artifact in model.code.artifacts:
        source = root / artifact
        if not source.exists():
            raise DeployerError(f"code.artifacts: {artifact} does not exist under {root}",
                                hint="artifacts are paths relative to code.path")
        destination = staging / artifact
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", ".*"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
    return copied


def _digest(root: Path) -> tuple[str, int, int, dict[str, int]]:
    """(content hash, files, bytes, bytes per top-level entry: a package, a module, an artifact)."""
    digest = hashlib.sha256()
    files = size = 0
    parts: dict[str, int] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_FILE):
        data = path.read_bytes()
        relative = path.relative_to(root)
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
        files += 1
        size += len(data)
        top = relative.parts[0].removesuffix(".py")
        parts[top] = parts.get(top, 0) + len(data)
    return digest.hexdigest(), files, size, parts
