"""Lambda's deployment-package size limits, checked against a built bundle or estimated without one.

Lambda refuses a function whose code, unzipped, is over 250 MB (262,144,000 bytes, layers
included; deployer uses no layers). The 50 MB zipped limit applies to a direct upload only:
CDK stages the asset in S3, so it does not apply here and is not checked.

- A built bundle is measured exactly (`check_built`): `deployer bundle`, `synth` and `deploy`
  build one, so they fail on an AWS environment whose bundle is over the limit.
- `deployer validate` builds nothing; `estimate` gives a figure from what it can see, fast:
  the dependency install cached for the same requirements (exact) when there is one, else the
  distributions installed in this Python environment (their RECORD sizes, with their own
  dependencies by their metadata, markers read for Lambda's Linux), plus the code and artifacts.
  Compiled `.pyc` files are counted as large as their source (what the bundle's checked-hash
  `.pyc` files weigh). Requirements not installed here are named as not counted.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import DeployerError

LAMBDA_UNZIPPED_LIMIT_BYTES = 262_144_000
#: An estimate at or above this share of the limit is worth a warning.
WARN_SHARE = 0.8
MB = 1024 * 1024

FIX_HINT = (
    "to fit: trim code.requirements to what the handler imports at run time (training libraries such as "
    "scikit-learn pull in scipy and numpy, ~200 MB); or export the trained model to a small artifact read "
    "with the standard library, as samples/support_router does (trained with scikit-learn, shipped as a JSON "
    "file: its bundle needs no scikit-learn); or ship the function as a container image (up to 10 GB), which "
    "deployer does not build yet"
)


@dataclass(frozen=True)
class BundleSize:
    """What a bundle weighs unzipped, and its largest top-level parts (name, bytes), largest first."""

    environment: str
    total_bytes: int
    largest: tuple[tuple[str, int], ...] = ()
    exact: bool = True
    method: str = "measured"
    not_counted: tuple[str, ...] = ()  # requirements the estimate could not see
    limit_bytes: int = LAMBDA_UNZIPPED_LIMIT_BYTES

    @property
    def over(self) -> bool:
        return self.total_bytes > self.limit_bytes

    @property
    def near(self) -> bool:
        return not self.over and self.total_bytes >= WARN_SHARE * self.limit_bytes

    def describe(self) -> str:
        """One paragraph: the figure, the limit, the largest parts."""
        size = f"{self.total_bytes / MB:,.1f} MB" if self.exact else f"about {self.total_bytes / MB:,.0f} MB"
        verdict = (f"over Lambda's {self.limit_bytes / MB:,.0f} MB unzipped limit ({self.limit_bytes:,} bytes) by "
                   f"{(self.total_bytes - self.limit_bytes) / MB:,.1f} MB" if self.over else
                   f"{self.total_bytes / self.limit_bytes:.0%} of Lambda's {self.limit_bytes / MB:,.0f} MB unzipped limit")
        parts = ", ".join(f"{name} {size_bytes / MB:,.1f} MB" for name, size_bytes in self.largest[:5])
        text = f"the {self.environment} bundle is {size} unzipped ({self.method}), {verdict}"
        if parts:
            text += f"; largest parts: {parts}"
        if self.not_counted:
            text += f"; not counted (not installed here): {', '.join(self.not_counted)}"
        return text


class BundleTooLarge(DeployerError):
    """A bundle Lambda would refuse."""

    def __init__(self, size: BundleSize, where: Path | None = None) -> None:
        message = size.describe()
        if where is not None:
            message += f" (built at {where})"
        super().__init__(message + "; Lambda would refuse it", hint=FIX_HINT)
        self.size = size


def largest_parts(sizes: dict[str, int], count: int = 8) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:count])


def check_built(size: BundleSize, where: Path | None = None) -> None:
    """Raise `BundleTooLarge` when a built bundle is over the limit."""
    if size.over:
        raise BundleTooLarge(size, where)


# -- the estimate (validate) -----------------------------------------------------------------------

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lambda_environment(python: str, architecture: str) -> dict[str, str]:
    """PEP 508 marker values of Lambda's Python runtime (Amazon Linux, CPython)."""
    return {
        "python_version": python, "python_full_version": f"{python}.0", "implementation_name": "cpython",
        "platform_python_implementation": "CPython", "sys_platform": "linux", "os_name": "posix",
        "platform_system": "Linux", "platform_machine": "aarch64" if architecture == "arm64" else "x86_64",
        "platform_release": "", "platform_version": "", "implementation_version": f"{python}.0",
    }


def _applies(marker: str | None, environment: dict[str, str], extras: set[str]) -> bool:
    if not marker:
        return True
    try:
        from packaging.markers import Marker
    except ImportError:  # pragma: no cover - packaging comes with pip's toolchain; count what is unsure
        return "extra" not in marker
    parsed = Marker(marker)
    if not extras:
        return parsed.evaluate({**environment, "extra": ""})
    return any(parsed.evaluate({**environment, "extra": extra}) for extra in extras)


def installed_size(requirements: Iterable[str], *, python: str, architecture: str,
                   path: list[str] | None = None) -> tuple[dict[str, int], tuple[str, ...]]:
    """(top-level name -> bytes, requirements not installed) of `requirements` and what they require,
    from the distributions installed on `path` (default: this interpreter's `sys.path`)."""
    from importlib import metadata

    environment = _lambda_environment(python, architecture)
    sizes: dict[str, int] = {}
    missing: list[str] = []
    seen: set[str] = set()
    queue: list[tuple[str, set[str]]] = []
    for requirement in requirements:
        match = _NAME.match(requirement)
        if match:
            queue.append((match.group(1), set(filter(None, (match.group(2) or "").strip("[]").replace(" ", "").split(",")))))
    while queue:
        name, extras = queue.pop()
        key = canonical(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            distribution = next(iter(metadata.distributions(name=name, path=path))) if path else metadata.distribution(name)
        except (StopIteration, metadata.PackageNotFoundError):
            missing.append(name)
            continue
        for entry in distribution.files or ():
            parts = entry.parts
            if not parts or parts[0] in ("..", "bin") or "__pycache__" in parts:
                continue  # scripts and compiled caches (the bundle's own .pyc are counted from sources)
            top = parts[0].removesuffix(".py")
            weight = entry.size or 0
            if entry.suffix == ".py":
                weight *= 2  # the source and its checked-hash .pyc, about as large
            sizes[top] = sizes.get(top, 0) + weight
        for requirement in distribution.requires or ():
            text, _, marker = requirement.partition(";")
            if _applies(marker.strip() or None, environment, extras):
                match = _NAME.match(text)
                if match:
                    queue.append((match.group(1), set(filter(None, (match.group(2) or "").strip("[]").split(",")))))
    return sizes, tuple(missing)


def cached_size(cache_dir: Path) -> dict[str, int] | None:
    """Bytes per top-level part of a complete cached dependency install (None: not installed yet):
    recorded at install time, else measured (one figure for a cache from before the record)."""
    if not (cache_dir / ".complete").exists():
        return None
    size_file = cache_dir.parent / f"{cache_dir.name}.size.json"
    try:
        record = json.loads(size_file.read_text())
        parts = {str(name): int(size) for name, size in record["parts"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {"(dependencies, cached install)": tree_size(cache_dir)}
    return parts


def tree_size(root: Path, skip: frozenset[str] = frozenset()) -> int:
    total = 0
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            try:
                total += os.stat(os.path.join(directory, name)).st_size
            except OSError:
                continue
    return total
