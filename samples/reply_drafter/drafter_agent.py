"""The reply drafter: an LLM agent that drafts the answer to a customer-support ticket.

A human always reviews the draft before it is sent (`needs_review` is always true): the agent
saves typing, it does not speak for the bank. The model is whatever the spec's `model` section
names: Ollama locally, an OpenAI-compatible endpoint in staging, Bedrock in production
(`agent.yaml`, `environments.<name>.model`). The code is the same for all three.

With an Ollama server running (`ollama serve`, `ollama pull llama3.2:3b`)::

    .venv/bin/deployer invoke draft_reply --spec samples/reply_drafter/agent.yaml \
        --data '{"ticket": "My card payment was declined at a shop abroad, why?"}'

Without a reachable model server the request fails with the provider's message, e.g.
"ollama at http://127.0.0.1:11434 is not reachable: connection refused; start it with
`ollama serve` or set model.endpoint".
"""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from pydantic import StringConstraints

from handlers import Model, action, agent

MAX_TICKET_CHARS = 8000

SYSTEM_PROMPT = (
    "You are a customer-support agent at a retail bank. Draft a reply to the customer's message. "
    "Be accurate and brief (at most 120 words), acknowledge the problem, give the next concrete step, "
    "and never ask for a full card number, PIN, password or one-time code. If the message suggests fraud "
    "or a lost card, tell the customer to freeze the card in the app at once. Write only the reply text, "
    "without a subject line and without placeholders in square brackets."
)

TONES = {
    "friendly": "Use a warm, plain-spoken tone.",
    "formal": "Use a courteous, formal tone.",
}

Ticket = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TICKET_CHARS, pattern=r"\S")]
Tone = Literal["friendly", "formal"]


class Draft(TypedDict):
    reply: str
    needs_review: bool  # always true: a person approves every draft
    team: str | None
    input_tokens: int
    output_tokens: int


def build_prompt(ticket: str, *, customer_name: str | None, team: str | None, tone: Tone) -> str:
    """The user message sent to the model (the system prompt carries the standing rules)."""
    lines = [TONES[tone]]
    if customer_name:
        lines.append(f"Address the customer as {customer_name}.")
    if team:
        lines.append(f"The ticket was routed to the {team.replace('_', ' ')} team; answer as that team.")
    lines += ["", "Customer message:", '"""', ticket.strip(), '"""']
    return "\n".join(lines)


@agent
class ReplyDrafter:
    """Drafts replies to support tickets for a human to review and send."""

    model: Model  # set by the runtime from agent.yaml `model` (ollama, openai or bedrock)

    @action
    def draft_reply(
        self,
        ticket: Ticket,
        customer_name: str | None = None,
        team: str | None = None,
        tone: Tone = "friendly",
    ) -> Draft:
        """Draft a reply to `ticket`; `team` is the support router's decision, when there is one."""
        if not ticket.strip():
            raise ValueError("'ticket' is empty: send the customer's message, e.g. {\"ticket\": \"my card is lost\"}")
        if tone not in TONES:
            raise ValueError(f"'tone' must be one of {', '.join(TONES)}, not {tone!r}")
        prompt = build_prompt(ticket, customer_name=customer_name, team=team, tone=tone)
        result = self.model.generate(prompt, system=SYSTEM_PROMPT)
        reply = result.text.strip()
        if not reply:
            raise RuntimeError(f"the model {type(self.model).__name__} returned an empty draft")
        return Draft(
            reply=reply,
            needs_review=True,
            team=team,
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
        )
