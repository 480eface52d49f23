"""Environment overrides: deep-merge an environment's sections into the top-level ones."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from deployer.errors import Issue
from deployer.spec.loader import LoadedSpec, issues_from_errors
from deployer.spec.models import OVERRIDABLE, AgentSpec

#: Keys that say what kind of entry a mapping is; an override that changes one replaces the entry.
_KIND_KEYS = ("type", "provider", "strategy", "kind")


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


def resolve_environment(loaded: LoadedSpec, environment: str) -> tuple[AgentSpec, list[Issue]]:
    """The spec as one environment sees it: its overrides merged in, then validated.

    An error is placed inside the environment's override when the override wrote that path,
    and at the top-level section otherwise.
    """
    data = loaded.origin.data
    env_data = (data.get("environments") or {}).get(environment) or {}
    overrides = {s: env_data[s] for s in OVERRIDABLE if isinstance(env_data.get(s), dict)}
    if not overrides:
        return loaded.spec, []
    merged = dict(data)
    for section, override in overrides.items():
        merged[section] = deep_merge(data.get(section) or {}, override)
    try:
        return AgentSpec.model_validate(merged), []
    except ValidationError as exc:
        return loaded.spec, issues_from_errors(exc.errors(include_url=False), loaded.origin.source, environment=environment)
