"""What ships into the Lambda: the agent SDK and the runtime around it.

Agent code imports the SDK from here::

    from handlers import agent, action, monitor, ModelResult, AgentSettings

The Lambda entry point is `handlers.runtime.handler`. Nothing in this package imports
`deployer/` or `infra/`, and nothing heavy (pydantic, boto3) is imported until it is needed:
the SDK names below are loaded on first access, so importing `handlers.runtime` stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from handlers.sdk import AgentSettings, Model, ModelResult, action, agent, instantiate, monitor

__all__ = ["AgentSettings", "Model", "ModelResult", "action", "agent", "instantiate", "monitor"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from handlers import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'handlers' has no attribute {name!r}")
