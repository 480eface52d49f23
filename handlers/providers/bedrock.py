"""Amazon Bedrock's Converse API through boto3 (imported and created on first use)."""

from __future__ import annotations

import os
from typing import Any

from handlers.providers.base import (
    ModelError,
    ModelRateLimited,
    ModelResponseError,
    ModelServerError,
    ModelTimeout,
    ModelUnavailable,
    Provider,
    Retryable,
    structured,
)
from handlers.sdk import ModelResult

THROTTLING = frozenset({"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"})
SERVER_SIDE = frozenset({
    "InternalServerException", "ServiceUnavailableException", "ModelNotReadyException",
    "ModelTimeoutException",
})
#: spec parameter -> Converse inferenceConfig key.
INFERENCE_KEYS = {
    "max_tokens": "maxTokens", "maxTokens": "maxTokens", "temperature": "temperature",
    "top_p": "topP", "topP": "topP", "stop": "stopSequences", "stopSequences": "stopSequences",
}


class BedrockProvider(Provider):
    name = "bedrock"

    def __init__(self, *, region: str | None = None, client: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.region = region
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=min(5.0, self.timeout_s),
                read_timeout=self.timeout_s,
                retries={"max_attempts": 1, "mode": "standard"},  # retries are ours, deadline-aware
            )
            region = self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            self._client = boto3.client("bedrock-runtime", region_name=region, config=config)
        return self._client

    def _attempt(self, prompt: Any, params: dict[str, Any], timeout_s: float) -> ModelResult:
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        options = dict(params)
        system = options.pop("system", None)
        wants_json = bool(options.pop("format", None) or options.pop("json", None))
        inference = {INFERENCE_KEYS[k]: options.pop(k) for k in list(options) if k in INFERENCE_KEYS}
        if isinstance(prompt, list):
            messages = prompt
        else:
            messages = [{"role": "user", "content": [{"text": prompt if isinstance(prompt, str) else str(prompt)}]}]
        request: dict[str, Any] = {"modelId": self.model_id, "messages": messages}
        if system:
            request["system"] = [{"text": system}]
        if inference:
            request["inferenceConfig"] = inference
        if options:
            request["additionalModelRequestFields"] = options
        try:
            response = self.client.converse(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "ClientError"))
            message = f"bedrock {self.model_id}: {code}: {error.get('Message', '')}"
            if code in THROTTLING:
                raise Retryable(ModelRateLimited(message)) from None
            if code in SERVER_SIDE:
                raise Retryable(ModelServerError(message)) from None
            raise ModelServerError(message) from None
        except (ReadTimeoutError, ConnectTimeoutError):
            raise Retryable(ModelTimeout(f"bedrock {self.model_id} did not answer within {timeout_s:.2f}s")) from None
        except EndpointConnectionError as exc:
            raise ModelUnavailable(f"bedrock is not reachable: {exc}; check the region and network") from None
        except ModelError:
            raise
        try:
            blocks = response["output"]["message"]["content"]
            text = "".join(block.get("text", "") for block in blocks if isinstance(block, dict))
        except (KeyError, TypeError):
            raise ModelResponseError(f"bedrock answered without output.message.content: {str(response)[:120]}") from None
        output, confidence = structured(text, wants_json)
        usage = response.get("usage") or {}
        return ModelResult(
            text=text,
            output=output,
            input_tokens=int(usage.get("inputTokens") or 0),
            output_tokens=int(usage.get("outputTokens") or 0),
            confidence=confidence,
        )
