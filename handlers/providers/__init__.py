"""Model providers behind one interface: `generate(prompt, **params) -> ModelResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handlers.providers.base import (
    ModelError,
    ModelRateLimited,
    ModelResponseError,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    Provider,
)
from handlers.sdk import Model

PROVIDERS = ("python", "ollama", "bedrock", "openai")

__all__ = [
    "PROVIDERS",
    "ModelError",
    "ModelRateLimited",
    "ModelResponseError",
    "ModelServerError",
    "ModelTimeout",
    "ModelUnavailable",
    "Provider",
    "build_provider",
]


def build_provider(config: dict[str, Any], *, artifacts_dir: Path) -> Model:
    """The provider for a runtime config's `model` section. No network happens here."""
    provider = config.get("provider")
    model_id = str(config.get("model_id") or config.get("id") or "")
    parameters = dict(config.get("parameters") or {})
    common: dict[str, Any] = {
        "model_id": model_id,
        "parameters": parameters,
        "timeout_s": float(config.get("timeout_s") or 30.0),
        "retries": int(config["retries"]) if config.get("retries") is not None else 2,
    }
    if provider == "python":
        from handlers.providers.python_model import PythonModel

        return PythonModel(model_id=model_id, artifacts_dir=artifacts_dir, parameters=parameters)
    if provider == "ollama":
        from handlers.providers.ollama import OllamaProvider

        return OllamaProvider(endpoint=config.get("endpoint"), **common)
    if provider == "openai":
        from handlers.providers.openai_chat import OpenAIProvider

        return OpenAIProvider(
            endpoint=config.get("endpoint"), api_key=config.get("api_key"), region=config.get("region"), **common
        )
    if provider == "bedrock":
        from handlers.providers.bedrock import BedrockProvider

        return BedrockProvider(region=config.get("region"), **common)
    raise ModelError(f"unknown model provider {provider!r}; known: {', '.join(PROVIDERS)}")
