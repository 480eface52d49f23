"""The `python` provider: an in-process model object loaded from the agent's code root.

`model.id` is "module:function"; the function is called once, at cold start, as
`function(artifacts_dir: Path, parameters: dict)` and returns an object whose `predict(input)`
returns a `ModelResult` or a dict with its keys.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from handlers.providers.base import ModelError
from handlers.sdk import ModelResult
from handlers.usage import current_usage


class PythonModel:
    name = "python"

    def __init__(self, *, model_id: str, artifacts_dir: Path, parameters: dict[str, Any] | None = None) -> None:
        module_name, sep, function_name = model_id.partition(":")
        if not sep or not module_name or not function_name:
            raise ModelError(f"model.id {model_id!r} must be 'module:function' for the python provider")
        module = importlib.import_module(module_name)
        loader = getattr(module, function_name, None)
        if not callable(loader):
            raise ModelError(f"model.id {model_id!r}: {module_name} has no function {function_name}")
        self.model_id = model_id
        self.parameters = dict(parameters or {})
        self.predictor = loader(artifacts_dir, self.parameters)
        if not callable(getattr(self.predictor, "predict", None)):
            raise ModelError(f"model.id {model_id!r} returned {type(self.predictor).__name__}, which has no predict()")

    def __repr__(self) -> str:
        return f"PythonModel(model_id={self.model_id!r})"

    def generate(self, prompt: Any, **params: Any) -> ModelResult:
        raw = self.predictor.predict(prompt, **params) if params else self.predictor.predict(prompt)
        result = ModelResult.coerce(raw)
        usage = current_usage()
        if usage is not None:
            usage.add(result)
        return result
