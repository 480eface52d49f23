"""OpenAI chat completions, or any compatible endpoint (vLLM, LiteLLM, llama.cpp server...).

Usage from `usage.prompt_tokens` / `usage.completion_tokens`. Confidence: with `logprobs=True`,
exp(mean token logprob); with JSON output, its `confidence` field.
"""

from __future__ import annotations

import math
from typing import Any

from handlers.providers.base import ModelResponseError, Provider, messages_from, structured
from handlers.providers.http import post_json
from handlers.providers.secrets import resolve_secret
from handlers.sdk import ModelResult

DEFAULT_ENDPOINT = "https://api.openai.com/v1"


class OpenAIProvider(Provider):
    name = "openai"

    def __init__(
        self, *, endpoint: str | None = None, api_key: str | None = None, region: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self._api_key_ref = api_key
        self._region = region

    def _headers(self) -> dict[str, str]:
        if not self._api_key_ref:
            return {}
        return {"authorization": f"Bearer {resolve_secret(self._api_key_ref, region=self._region)}"}

    def _attempt(self, prompt: Any, params: dict[str, Any], timeout_s: float) -> ModelResult:
        body = dict(params)
        system = body.pop("system", None)
        payload: dict[str, Any] = {"model": self.model_id, "messages": messages_from(prompt, system), **body}
        data = post_json(
            f"{self.endpoint}/chat/completions",
            payload,
            timeout_s=timeout_s,
            label="openai-compatible endpoint",
            hint="check model.endpoint and that the server is running",
            headers=self._headers(),
        )
        try:
            choice = data["choices"][0]
            content = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise ModelResponseError(f"chat completion without choices[0].message: {str(data)[:120]}") from None
        if not isinstance(content, str):
            raise ModelResponseError("chat completion content is not a string")
        response_format = payload.get("response_format")
        wants_json = isinstance(response_format, dict) and response_format.get("type") in (
            "json_object", "json_schema",
        )
        output, confidence = structured(content, wants_json)
        logprobs = (choice.get("logprobs") or {}).get("content") if isinstance(choice, dict) else None
        if logprobs:
            values = [t["logprob"] for t in logprobs if isinstance(t, dict) and "logprob" in t]
            if values:
                confidence = math.exp(sum(values) / len(values))
        usage = data.get("usage") or {}
        return ModelResult(
            text=content,
            output=output,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            confidence=confidence,
        )
