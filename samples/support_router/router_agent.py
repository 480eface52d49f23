"""The support router agent: one action, `route`, that sends a customer message to a team.

The model (`router_model.py`, loaded by the runtime from `model/router.json`) gives the team, the
intent and a calibrated confidence. Below `model.confidence_threshold` (agent.yaml) the decision is
marked `escalate: true`: the message goes to the human triage queue with the model's suggestion.

Try it without any server::

    .venv/bin/deployer invoke route --data '{"message": "my card has not arrived yet"}'
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from pydantic import StringConstraints

from handlers import AgentSettings, Model, action, agent

#: Used when the spec sets no `model.confidence_threshold` (the value the training script chose).
DEFAULT_CONFIDENCE_THRESHOLD = 0.77
MAX_MESSAGE_CHARS = 5000
#: The runtime validates requests against this (a 422 before the action runs: empty, blank or too
#: long); the checks in `route` repeat it for direct calls from notebooks and tests.
Message = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_CHARS, pattern=r"\S")]


class Alternative(TypedDict):
    intent: str
    team: str
    probability: float


class RouteDecision(TypedDict):
    team: str
    intent: str
    confidence: float  # probability of `team` (sum over its intents)
    escalate: bool  # true: a human confirms the team before the ticket is dispatched
    threshold: float
    alternatives: list[Alternative]  # the likeliest intents, best first


@agent
class SupportRouter:
    """Routes banking support messages to one of nine teams; escalates uncertain ones."""

    model: Model  # set by the runtime: the `python` provider around router_model.load(...)
    settings: AgentSettings  # set by the runtime: confidence_threshold comes from agent.yaml

    def __init__(self) -> None:
        configured = self.settings.confidence_threshold
        self.threshold = DEFAULT_CONFIDENCE_THRESHOLD if configured is None else float(configured)

    @action
    def route(self, message: Message, metadata: dict[str, str] | None = None) -> RouteDecision:
        """Route one message. `metadata` (channel, customer tier, ...) is accepted and not used by the model."""
        if not isinstance(message, str):
            raise ValueError(f"'message' must be a string, got {type(message).__name__}")
        text = message.strip()
        if not text:
            raise ValueError("'message' is empty: send the customer's text, e.g. {\"message\": \"my card is lost\"}")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ValueError(f"'message' has {len(text)} characters; the router accepts at most {MAX_MESSAGE_CHARS}")
        if metadata is not None and not isinstance(metadata, dict):
            raise ValueError("'metadata' must be an object of strings")
        result = self.model.generate(text)
        output: dict[str, Any] = result.output
        confidence = round(float(result.confidence if result.confidence is not None else 0.0), 4)
        return RouteDecision(
            team=str(output["team"]),
            intent=str(output["intent"]),
            confidence=confidence,
            escalate=confidence < self.threshold,  # on the rounded value the caller sees
            threshold=self.threshold,
            alternatives=[
                Alternative(intent=str(alt["intent"]), team=str(alt["team"]), probability=float(alt["probability"]))
                for alt in output.get("alternatives", [])
            ],
        )
