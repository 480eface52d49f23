"""`model`: the model behind the agent (and the judge model of an evaluation)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from deployer.spec.section import Section
from deployer.spec.types import REGION_PATTERN, Duration, FieldProblem, HttpsUrl, SecretRef


class PricingSpec(Section):
    input_per_1k: float = Field(0.0, ge=0, description="USD per 1,000 input tokens")
    output_per_1k: float = Field(0.0, ge=0, description="USD per 1,000 output tokens")


class ModelParameters(Section):
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=200_000)
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = None


class ModelSpec(Section):
    """The model behind the agent."""

    provider: Literal["python", "ollama", "bedrock", "openai"] = Field(
        description="python: in-process model loaded by the agent; ollama; bedrock; openai: any OpenAI-compatible endpoint"
    )
    id: str = Field(min_length=1, description="model id; for `python`, the loader as module:function")
    endpoint: HttpsUrl | None = Field(None, description="server URL for ollama and openai")
    region: str | None = Field(None, pattern=REGION_PATTERN, description="Bedrock region (defaults to the environment's)")
    api_key: SecretRef | None = Field(None, description="reference to the API key (openai)")
    parameters: ModelParameters = Field(default_factory=ModelParameters)
    timeout: Duration = Field(30.0, gt=0, le=900)
    retries: int = Field(2, ge=0, le=10, description="retries on 429, 5xx and throttling, with backoff and jitter")
    pricing: PricingSpec = Field(default_factory=PricingSpec)
    confidence_threshold: float | None = Field(
        None, ge=0, le=1, description="below this confidence the agent should defer to a human"
    )

    @model_validator(mode="after")
    def _provider_fields(self) -> ModelSpec:
        if self.provider == "python" and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", self.id):
            raise FieldProblem("id", f"for provider python, id is the loader as module:function, not {self.id!r}")
        if self.provider == "openai" and self.endpoint is None:
            raise FieldProblem("provider", "provider openai needs an endpoint, e.g. endpoint: https://api.openai.com/v1")
        return self
