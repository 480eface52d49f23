"""The Lambda bundle: a directory Lambda (or the emulator) runs as is.

Layout (the task root, `/var/task` in Lambda)::

    deployer_config.json   the resolved spec (`DeploymentModel.runtime_config()`, code.root ".")
    handlers/              the runtime and SDK; entry point handlers.runtime.handler
    <agent code>           the code root's .py files and its declared artifacts
    <dependencies>         pydantic + code.requirements, manylinux wheels for the target Python
    **/__pycache__/*.pyc   hash-based (checked-hash), when an interpreter of the target version exists

The bundle is deterministic and content-addressed: its directory is named after the SHA-256 of
every file's path and bytes, so any change, including a config-only one, gives a new bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from deployer.bundle.deps import compile_tree, find_interpreter, install_dependencies, runtime_requirements
from deployer.compiled import DeploymentModel
from deployer.errors import DeployerError

ENTRY_POINT = "handlers.runtime.handler"
CONFIG_FILE = "deployer_config.json"
MANIFEST_FILE = "deployer_bundle.json"
#: Directories of a code root never shipped.
SKIPPED_DIRS = frozenset({
    "__pycache__", "tests", "test", "handlers", "node_modules", "venv", "cdk.out", "build", "dist", "site-packages",
})

__all__ = ["ENTRY_POINT", "BundleInfo", "build", "build_bundle", "bundle_hash"]


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

    def manifest(self) -> dict[str, object]:
        return {
            "hash": self.hash, "entry_point": ENTRY_POINT, "files": self.files, "size_bytes": self.size_bytes,
            "python": self.python, "architecture": self.architecture, "requirements": list(self.requirements),
            "compiled": self.compiled,
        }


def build_bundle(model: DeploymentModel, out_dir: Path) -> Path:
    """Build the bundle of `model` under `out_dir`; return its directory."""
    return build(model, out_dir).path


def default_cache_dir(model: DeploymentModel) -> Path:
    configured = os.environ.get("DEPLOYER_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(model.spec_file).resolve().parent / ".deployer" / "cache"


def build(model: DeploymentModel, out_dir: Path, *, cache_dir: Path | None = None) -> BundleInfo:
    """Build the bundle and describe it (hash, size, whether `.pyc` files were written)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    python, arch = model.function.python, model.function.architecture
    requirements = (*runtime_requirements(), *model.code.requirements)
    interpreter = find_interpreter(python)
    deps = install_dependencies(
        requirements, architecture=arch, python=python,
        cache_dir=cache_dir or default_cache_dir(model), interpreter=interpreter,
    )
    staging = out_dir / f".staging-{uuid.uuid4().hex[:12]}"
    try:
        shutil.copytree(deps, staging, ignore=shutil.ignore_patterns(".complete"))
        _copy_handlers(staging / "handlers")
        code_files = _copy_code(model, staging)
        config = model.runtime_config()
        config["code"] = {**config["code"], "root": "."}
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if interpreter:  # dependencies were compiled once, in the cache
            compile_tree(interpreter, staging, [staging / "handlers", *code_files])
        digest, files, size = _digest(staging)
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
    info = BundleInfo(final, digest, files, size, python, arch, requirements, interpreter is not None)
    (final / MANIFEST_FILE).write_text(json.dumps(info.manifest(), indent=1, sort_keys=True) + "\n")
    return info


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


def _digest(root: Path) -> tuple[str, int, int]:
    digest = hashlib.sha256()
    files = size = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_FILE):
        data = path.read_bytes()
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
        files += 1
        size += len(data)
    return digest.hexdigest(), files, size
