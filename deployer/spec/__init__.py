"""The agent.yaml spec: pydantic models (`models`, `types`), YAML with positions (`source`), loading
(`loader`): pydantic errors located (`locate`), credentials refused (`credentials`), redaction
patterns checked for catastrophic backtracking (`backtracking`), and stand-ins for broken sections
so that the compiler can still check the rest (`repair`)."""

from __future__ import annotations

from deployer.spec.loader import LoadedSpec, load_spec
from deployer.spec.models import AgentSpec

__all__ = ["AgentSpec", "LoadedSpec", "load_spec"]
