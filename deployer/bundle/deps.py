"""Runtime dependencies for the Lambda platform: pip wheels only, no Docker, cached.

`pip install --platform manylinux... --only-binary=:all: --python-version X --implementation cp
--target DIR` installs the wheels Lambda would load, whatever this machine is. One install per
requirement set is cached under the cache directory, byte-compiled once (hash-based `.pyc`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from deployer.errors import DeployerError


def runtime_requirements() -> tuple[str, ...]:
    """The runtime's own dependencies, pinned to this install (Lambda's runtime provides boto3).

    structlog backs `self.log` in agents; it is imported only when an agent logs.
    """
    return (f"pydantic=={metadata.version('pydantic')}", f"structlog=={metadata.version('structlog')}")


def platforms(architecture: str, python: str) -> tuple[str, ...]:
    """Wheel platform tags Lambda can load (Python 3.12+ runs on Amazon Linux 2023, glibc 2.34)."""
    arch = "aarch64" if architecture == "arm64" else "x86_64"
    tags = [f"manylinux2014_{arch}"]
    if tuple(int(p) for p in python.split(".")) >= (3, 12):
        tags += [f"manylinux_2_28_{arch}", f"manylinux_2_34_{arch}"]
    return tuple(tags)


def cache_key(requirements: tuple[str, ...], architecture: str, python: str) -> str:
    data = json.dumps({"r": sorted(requirements), "a": architecture, "p": python, "v": 1}, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:24]


def find_interpreter(python: str) -> str | None:
    """A CPython `python` (e.g. "3.12") on this machine, to write `.pyc` files Lambda will use."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == python:
        return sys.executable
    candidates = [shutil.which(f"python{python}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(pyenv_root.glob(f"versions/{python}*/bin/python{python}"))]
    candidates += [f"/usr/bin/python{python}", f"/usr/local/bin/python{python}"]
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True, text=True, timeout=20, check=False,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == python:
            return candidate
    return None


def compile_tree(interpreter: str, root: Path, paths: list[Path] | None = None) -> None:
    """Hash-based `.pyc` (checked-hash) for `paths` (default: all of `root`), named as Lambda sees them."""
    targets = [str(p) for p in paths] if paths else [str(root)]
    result = subprocess.run(
        [interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash",
         "-s", str(root), "-p", "/var/task", *targets],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise DeployerError(f"byte-compiling {root} failed: " + " | ".join(detail))


def install_dependencies(
    requirements: tuple[str, ...], *, architecture: str, python: str, cache_dir: Path, interpreter: str | None,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """The directory holding `requirements` installed for Lambda (from the cache when present).

    `progress` gets a line when pip starts, one per package pip collects or downloads, and one
    when compiling starts: a first install of a large stack takes minutes.
    """
    report = progress or (lambda line: None)
    key = cache_key(requirements, architecture, python)
    target = cache_dir / "deps" / f"py{python}-{architecture}-{key}"
    if (target / ".complete").exists():
        report(f"dependencies from the cache ({', '.join(requirements)})")
        return target
    staging = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    staging.mkdir(parents=True)
    command = [sys.executable, "-m", "pip", "install", "--no-compile", "--disable-pip-version-check",
               "--progress-bar", "off", "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
               "--target", str(staging)]
    for tag in platforms(architecture, python):
        command += ["--platform", tag]
    report(f"installing {', '.join(requirements)} with pip for python {python} {architecture} (not cached yet: "
           "a large stack takes minutes)")
    returncode, stderr = _run_pip([*command, *requirements], report)
    if returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        errors = [line for line in stderr.splitlines() if "ERROR" in line] or stderr.splitlines()[-3:]
        raise DeployerError(
            f"installing {', '.join(requirements)} for Lambda (python {python}, {architecture}) failed: "
            + " | ".join(errors),
            hint="every runtime dependency needs a manylinux wheel (--only-binary=:all:); check the names in "
            "code.requirements and that pip can reach your package index",
        )
    for junk in ("bin", "__pycache__"):
        shutil.rmtree(staging / junk, ignore_errors=True)
    if interpreter:
        report("byte-compiling the dependencies (once: the cache keeps them)")
        compile_tree(interpreter, staging)
    (staging / ".complete").write_text("\n".join(requirements) + "\n")
    parts: dict[str, int] = {}  # bytes per top-level package or module, for `validate`'s message
    for path in staging.rglob("*"):
        if path.is_file() and path.name != ".complete":
            top = path.relative_to(staging).parts[0].removesuffix(".py")
            parts[top] = parts.get(top, 0) + path.stat().st_size
    try:
        staging.rename(target)
    except OSError:
        if not (target / ".complete").exists():
            raise
        shutil.rmtree(staging, ignore_errors=True)  # another build won the race
    else:  # beside the install, not in it (it would enter every bundle): what `validate` reads
        record = {"size_bytes": sum(parts.values()), "parts": parts}
        target.with_name(f"{target.name}.size.json").write_text(json.dumps(record, sort_keys=True) + "\n")
    return target


#: pip output lines worth a progress line (the rest is noise).
_PIP_PROGRESS = ("Collecting ", "Downloading ", "Installing collected packages")


def _run_pip(argv: list[str], report: Callable[[str], None]) -> tuple[int, str]:
    """Run pip, passing its collecting/downloading lines to `report`; (exit code, stderr)."""
    import tempfile

    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            line = line.strip()
            if line.startswith(_PIP_PROGRESS):
                report("pip: " + line)
        returncode = process.wait()
        errors.seek(0)
        return returncode, errors.read()
