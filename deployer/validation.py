"""`deployer validate`: the spec, every environment's compilation, the agent code, and whether
each AWS environment's bundle fits Lambda's size limit (estimated: validate builds nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from deployer.compiler import compile_all, compile_environment
from deployer.errors import SpecError
from deployer.spec import load_spec

if TYPE_CHECKING:
    from deployer.bundle.limits import BundleSize
    from deployer.compiled import DeploymentModel


class ValidationReport(NamedTuple):
    """What `deployer validate` prints, and the compiled models (a named tuple: a frozen dataclass
    costs `validate` a few ms of class creation at every start)."""

    summary: str
    warnings: tuple[str, ...]
    models: dict[str, DeploymentModel]


def validate_spec(path: str, *, environment: str | None = None, check_code: bool = True) -> ValidationReport:
    """Validate a spec; raise `SpecError` with every problem, located, when it is not valid."""
    loaded = load_spec(path)
    models = {environment: compile_environment(loaded, environment)} if environment else compile_all(loaded)
    issues = []
    if check_code:
        issues = [loaded.origin.source.issue(_path(where), message) for where, message in _code_problems(models)]
    sizes = bundle_sizes(models)
    code = loaded.origin.data.get("code")
    where = ("code", "requirements") if isinstance(code, dict) and "requirements" in code else ("code",)
    issues += [loaded.origin.source.issue(where, f"{size.describe()}; Lambda would refuse it") for size in sizes
               if size.over]
    if issues:
        error = SpecError(issues)
        if any(size.over for size in sizes):
            error.hint = _size_hint()
        raise error
    size_warnings = tuple(f"warning: {size.describe()}: `deployer bundle --env {size.environment}` measures it"
                          for size in sizes if size.near)
    warnings = tuple(dict.fromkeys(w for m in models.values() for w in m.warnings)) + size_warnings
    spec = loaded.spec
    summary = (f"{loaded.origin.file}: valid ({spec.name}: {len(models)} environment{'s' * (len(models) != 1)}, "
               f"{len(spec.actions)} action{'s' * (len(spec.actions) != 1)}, "
               f"{len(next(iter(models.values())).alarms)} alarms)")
    return ValidationReport(summary, warnings, models)


def _code_problems(models: dict[str, DeploymentModel]) -> list[tuple[str, str]]:
    """Problems of the agent code itself: imports, actions, type hints (the code is the same in every environment)."""
    from deployer.bundle.codecheck import check_code

    return list(check_code(next(iter(models.values()))))


def bundle_sizes(models: dict[str, DeploymentModel]) -> list[BundleSize]:
    """The estimated bundle size of each AWS environment (one estimate per distinct requirement set)."""
    from dataclasses import replace

    from deployer.bundle import estimate_size

    groups: dict[tuple[object, ...], list[DeploymentModel]] = {}
    for model in models.values():
        if model.target == "aws":
            key = (model.function.python, model.function.architecture, model.code.requirements)
            groups.setdefault(key, []).append(model)
    return [replace(estimate_size(group[0]), environment=" and ".join(m.environment for m in group))
            for group in groups.values()]


def _size_hint() -> str:
    from deployer.bundle.limits import FIX_HINT

    return FIX_HINT


def _path(dotted: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in dotted.replace("[", ".").replace("]", "").split(".") if p)

