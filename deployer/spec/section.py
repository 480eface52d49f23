"""The base of every `agent.yaml` section model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Strict: a boolean is not a number and text is not a number (YAML's `yes` stays a boolean);
    infinities and NaN are refused. Unknown keys are refused; models are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True, strict=True,
                              allow_inf_nan=False)
