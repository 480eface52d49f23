"""What ships into the Lambda: the agent SDK and the runtime around it.

Agent code imports the SDK from here::

    from handlers import agent, action, monitor, ModelResult, AgentSettings

The Lambda entry point is `handlers.runtime.handler`. Nothing in this package imports
`deployer/` or `infra/`, and nothing heavy (pydantic, boto3) is imported until it is needed.
"""

from __future__ import annotations

from handlers.sdk import AgentSettings, Model, ModelResult, action, agent, instantiate, monitor

__all__ = ["AgentSettings", "Model", "ModelResult", "action", "agent", "instantiate", "monitor"]
