"""The JSON Schema of agent.yaml, generated from the pydantic models."""

from __future__ import annotations

import json
from typing import Any

from deployer.spec.models import AgentSpec

SCHEMA_ID = "https://deployer.dev/schemas/agent.schema.json"


def agent_schema() -> dict[str, Any]:
    schema = AgentSpec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema, "title": "agent.yaml"}


def schema_json() -> str:
    return json.dumps(agent_schema(), indent=2, sort_keys=False)
