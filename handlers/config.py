"""The resolved spec baked into the bundle (`deployer_config.json`), read at cold start.

It is plain JSON written by `DeploymentModel.runtime_config()`: no YAML and no schema building
here, only small slotted dataclasses over the dict.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG_FILE = "deployer_config.json"
CONFIG_ENV = "DEPLOYER_CONFIG"
MONITOR_FIELDS = ("log_inputs", "log_outputs", "log_latency", "log_errors", "sample_rate")


@dataclass(frozen=True, slots=True)
class Policy:
    """The monitoring policy of one action, after precedence is applied."""

    log_inputs: bool = True
    log_outputs: bool = True
    log_latency: bool = True
    log_errors: bool = True
    sample_rate: float = 1.0
    redaction_builtins: tuple[str, ...] = ()
    redaction_patterns: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        redaction = data.get("redaction") or {}
        return cls(
            log_inputs=bool(data.get("log_inputs", True)),
            log_outputs=bool(data.get("log_outputs", True)),
            log_latency=bool(data.get("log_latency", True)),
            log_errors=bool(data.get("log_errors", True)),
            sample_rate=float(data.get("sample_rate", 1.0)),
            redaction_builtins=tuple(redaction.get("builtins") or ()),
            redaction_patterns=tuple((str(n), str(p)) for n, p in redaction.get("patterns") or ()),
        )


@dataclass(frozen=True, slots=True)
class ActionConfig:
    name: str
    timeout_s: float
    memory_mb: int
    max_payload_bytes: int
    monitoring: dict[str, Any]  # the compiled policy: action-level spec fields over the top level
    pinned: tuple[str, ...] = ()  # monitoring fields set at action level in the spec: @monitor cannot change them


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    agent: str
    environment: str
    spec_hash: str
    code_root: Path
    module: str
    class_name: str
    model: dict[str, Any]
    actions: dict[str, ActionConfig]
    monitoring: dict[str, Any]
    function_memory_mb: int
    function_timeout_s: float
    namespace: str = "Deployer"
    replay_namespace: str = "Deployer/Replay"
    gb_second_usd: float = 0.0000166667
    request_usd: float = 0.2 / 1_000_000
    table_name: str = ""
    ttl_days: int = 7
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base_dir: Path | None = None) -> RuntimeConfig:
        """Read a `runtime_config()` dict; a relative `code.root` is taken from `base_dir`."""
        code = data.get("code") or {}
        root = Path(code.get("root") or ".")
        if not root.is_absolute():
            root = (base_dir or Path.cwd()) / root
        function = data.get("function") or {}
        metrics = data.get("metrics") or {}
        pricing = data.get("lambda_pricing") or {}
        request_log = data.get("request_log") or {}
        actions = {}
        for item in data.get("actions") or ():
            actions[item["name"]] = ActionConfig(
                name=item["name"],
                timeout_s=float(item.get("timeout_s") or function.get("timeout_s") or 30),
                memory_mb=int(item.get("memory_mb") or function.get("memory_mb") or 128),
                max_payload_bytes=int(item.get("max_payload_bytes") or 6 * 1024 * 1024),
                monitoring=dict(item.get("monitoring") or {}),
                pinned=tuple(item.get("monitoring_pinned") or ()),
            )
        return cls(
            agent=str(data.get("agent", "agent")),
            environment=str(data.get("environment", "local")),
            spec_hash=str(data.get("spec_hash", "")),
            code_root=root.resolve(),
            module=str(code.get("module", "")),
            class_name=str(code.get("class_name", "")),
            model=dict(data.get("model") or {}),
            actions=actions,
            monitoring=dict(data.get("monitoring") or {}),
            function_memory_mb=int(function.get("memory_mb") or 128),
            function_timeout_s=float(function.get("timeout_s") or 30),
            namespace=str(metrics.get("namespace", "Deployer")),
            replay_namespace=str(metrics.get("replay_namespace", "Deployer/Replay")),
            gb_second_usd=float(pricing.get("gb_second_usd", 0.0000166667)),
            request_usd=float(pricing.get("request_usd", 0.2 / 1_000_000)),
            table_name=str(request_log.get("table_name", "")),
            ttl_days=int(request_log.get("ttl_days", 7)),
            raw=data,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> RuntimeConfig:
        """Read `deployer_config.json`: `path`, else `$DEPLOYER_CONFIG`, else the bundle root."""
        if path is None:
            path = os.environ.get(CONFIG_ENV) or Path(__file__).resolve().parent.parent / CONFIG_FILE
        file = Path(path)
        with file.open("rb") as handle:
            data = json.load(handle)
        return cls.from_dict(data, base_dir=file.parent)


def resolve_policy(action: dict[str, Any], decorator: dict[str, Any], pinned: tuple[str, ...] = ()) -> Policy:
    """Precedence, field by field: spec action-level > `@monitor` > spec top-level.

    The compiler already merged the spec (`action` is the final spec policy of the action and
    `pinned` the fields its action level set); what is left here is `@monitor`, which the spec
    cannot see: it overrides every field the action level did not pin. Redaction always comes
    from the spec.
    """
    merged = dict(action)
    merged.update({name: value for name, value in decorator.items() if name in MONITOR_FIELDS and name not in pinned})
    return Policy.from_dict(merged)
