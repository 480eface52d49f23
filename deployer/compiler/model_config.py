"""How a runtime reaches a model: the agent's model, and an evaluation's judge model."""

from __future__ import annotations

from deployer.compiled import ModelConfig, Pricing
from deployer.spec.model import ModelSpec

OLLAMA_DEFAULT_ENDPOINT = "http://127.0.0.1:11434"


def model_config(m: ModelSpec, region: str) -> ModelConfig:
    """`region`: the environment's, which a Bedrock model without its own region uses."""
    endpoint = m.endpoint or (OLLAMA_DEFAULT_ENDPOINT if m.provider == "ollama" else None)
    return ModelConfig(
        provider=m.provider, model_id=m.id, endpoint=endpoint,
        region=m.region or (region if m.provider == "bedrock" else None), api_key=m.api_key,
        parameters=m.parameters.model_dump(exclude_none=True), timeout_s=m.timeout, retries=m.retries,
        pricing=Pricing(m.pricing.input_per_1k, m.pricing.output_per_1k),
        confidence_threshold=m.confidence_threshold,
    )
