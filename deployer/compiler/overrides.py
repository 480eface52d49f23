"""Environment overrides: deep-merge an environment's sections into the top-level ones."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from deployer.compiler.problems import defined, did_you_mean
from deployer.errors import Issue
from deployer.spec.loader import LoadedSpec, issues_from_errors
from deployer.spec.models import OVERRIDABLE, AgentSpec
from deployer.spec.repair import Unit, repair, units_of

#: Keys that say what kind of entry a mapping is; an override that changes one replaces the entry.
_KIND_KEYS = ("type", "provider", "strategy", "kind")
#: Sections whose overrides are keyed by the name of an entry defined at the top level.
_BY_NAME = {"alerts": "alert", "notifications": "notification"}


def deep_merge(base: Any, override: Any) -> Any:
    """Merge `override` into `base`: mappings merge key by key, anything else is replaced.

    A mapping whose kind changes (`provider: ollama` -> `provider: bedrock`) is replaced whole,
    so fields of the old kind do not leak into the new one.
    """
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    if any(k in override and k in base and override[k] != base[k] for k in _KIND_KEYS):
        return copy.deepcopy(override)
    merged = copy.deepcopy(base)
    for key, value in override.items():
        merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
    return merged


def resolve_environment(loaded: LoadedSpec, environment: str) -> tuple[AgentSpec, list[Issue], frozenset[Unit]]:
    """The spec as one environment sees it: its overrides merged in, then validated.

    Returns the spec, the problems of the overrides, and the units that are unsound for this
    environment (the loaded spec's, and those an override broke: replaced by stand-ins, see
    `deployer.spec.repair`). An error is placed inside the environment's override when the
    override wrote that path, and at the top-level section otherwise. An override of a section
    that is itself unsound is left out, unjudged.
    """
    data = loaded.origin.data
    unsound = loaded.unsound
    env_data = (data.get("environments") or {}).get(environment) or {}
    overrides = {s: dict(env_data[s]) for s in OVERRIDABLE if isinstance(env_data.get(s), dict)
                 and not any(unit[0] == s for unit in unsound)}
    issues = _unknown_entries(loaded, environment, overrides)
    if not overrides:
        return loaded.spec, issues, unsound
    merged = dict(data)
    for section, override in overrides.items():
        merged[section] = deep_merge(data.get(section) or {}, override)
    try:
        return AgentSpec.model_validate(merged), issues, unsound
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        issues += issues_from_errors(errors, loaded.origin.source, environment=environment)
        spec, _, broken = repair(merged, units_of(error["loc"] for error in errors))
        if spec is None:
            return loaded.spec, issues, unsound | {(section,) for section in overrides}
        return spec, issues, unsound | broken


def _unknown_entries(loaded: LoadedSpec, environment: str, overrides: dict[str, dict[str, Any]]) -> list[Issue]:
    """An override of an alert or notification the top level does not define (and drop it)."""
    issues = []
    for section, noun in _BY_NAME.items():
        override = overrides.get(section)
        if not override:
            continue
        known = loaded.origin.data.get(section) or {}
        for name in [n for n in override if n not in known]:
            del override[name]
            guess = did_you_mean(str(name), known)
            issues.append(loaded.origin.source.issue(
                ("environments", environment, section, name),
                f"no {noun} {name!r} to override: an environment can only override {section} defined at the top "
                f"level {defined(known)}, so define it there first{guess}", at_key=True))
        if not override:
            del overrides[section]
    return issues
