"""`deployer validate`: the spec, every environment's compilation, and the agent code."""

from __future__ import annotations

from dataclasses import dataclass

from deployer.compiled import DeploymentModel
from deployer.compiler import compile_all, compile_environment
from deployer.errors import SpecError
from deployer.spec import load_spec


@dataclass(frozen=True)
class ValidationReport:
    summary: str
    warnings: tuple[str, ...]
    models: dict[str, DeploymentModel]


def validate_spec(path: str, *, environment: str | None = None, check_code: bool = True) -> ValidationReport:
    """Validate a spec; raise `SpecError` with every problem, located, when it is not valid."""
    loaded = load_spec(path)
    models = {environment: compile_environment(loaded, environment)} if environment else compile_all(loaded)
    if check_code:
        issues = [loaded.origin.source.issue(_path(where), message) for where, message in _code_problems(models)]
        if issues:
            raise SpecError(issues)
    warnings = tuple(dict.fromkeys(w for m in models.values() for w in m.warnings))
    spec = loaded.spec
    summary = (f"{loaded.origin.file}: valid ({spec.name}: {len(models)} environment{'s' * (len(models) != 1)}, "
               f"{len(spec.actions)} action{'s' * (len(spec.actions) != 1)}, "
               f"{len(next(iter(models.values())).alarms)} alarms)")
    return ValidationReport(summary, warnings, models)


def _code_problems(models: dict[str, DeploymentModel]) -> list[tuple[str, str]]:
    """Problems of the agent code itself: imports, actions, type hints (the code is the same in every environment)."""
    from deployer.bundle.codecheck import check_code

    return list(check_code(next(iter(models.values()))))


def _path(dotted: str) -> tuple[str | int, ...]:
    return tuple(int(p) if p.isdigit() else p for p in dotted.replace("[", ".").replace("]", "").split(".") if p)

