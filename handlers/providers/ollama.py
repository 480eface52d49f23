"""Ollama's `/api/chat` (non-streaming). Tokens from `prompt_eval_count` / `eval_count`."""

from __future__ import annotations

import os
from typing import Any

from handlers.providers.base import ModelResponseError, Provider, messages_from, structured
from handlers.providers.http import post_json
from handlers.sdk import ModelResult

DEFAULT_ENDPOINT = "http://127.0.0.1:11434"
#: Request keys that go at the top level of /api/chat; every other parameter is an `option`.
TOP_LEVEL = ("format", "keep_alive", "think", "tools")


def _endpoint(value: str | None) -> str:
    value = value or os.environ.get("OLLAMA_HOST") or DEFAULT_ENDPOINT
    if "://" not in value:
        value = f"http://{value}"
    return value.rstrip("/")


class OllamaProvider(Provider):
    name = "ollama"

    def __init__(self, *, endpoint: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.endpoint = _endpoint(endpoint)

    def _attempt(self, prompt: Any, params: dict[str, Any], timeout_s: float) -> ModelResult:
        options = dict(params)
        system = options.pop("system", None)
        payload: dict[str, Any] = {
            "model": self.model_id,
            "messages": messages_from(prompt, system),
            "stream": False,
        }
        if "max_tokens" in options:  # the spec's name for Ollama's num_predict
            options["num_predict"] = options.pop("max_tokens")
        for key in TOP_LEVEL:
            if key in options:
                payload[key] = options.pop(key)
        if options:
            payload["options"] = options
        data = post_json(
            f"{self.endpoint}/api/chat",
            payload,
            timeout_s=timeout_s,
            label="ollama",
            hint="start it with `ollama serve` or set model.endpoint",
        )
        message = data.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            raise ModelResponseError(f"ollama answered without message.content: {str(data)[:120]}")
        output, confidence = structured(content, "format" in payload)
        return ModelResult(
            text=content,
            output=output,
            input_tokens=int(data.get("prompt_eval_count") or 0),
            output_tokens=int(data.get("eval_count") or 0),
            confidence=confidence,
        )
