"""The agent.yaml spec: pydantic models (`models`), YAML with positions (`source`), loading (`loader`)."""

from __future__ import annotations

from deployer.spec.loader import LoadedSpec, load_spec
from deployer.spec.models import AgentSpec

__all__ = ["AgentSpec", "LoadedSpec", "load_spec"]
