"""The agent SDK: decorators attach metadata only; the runtime's instance wiring; notebooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers import AgentSettings, Model, ModelResult, action, agent, instantiate, monitor
from handlers.sdk import agent_actions, is_agent, monitor_overrides


class EchoModel:
    def generate(self, prompt: str, **params: object) -> ModelResult:
        return ModelResult(text=prompt.upper(), input_tokens=1, output_tokens=1, confidence=0.8)


@agent
class Notebook:
    model: Model  # annotations only (for type checkers): the runtime provides both
    settings: AgentSettings

    def __init__(self) -> None:
        self.seen_model_at_init = self.model
        self.seen_env_at_init = self.settings.environment

    @action
    def process(self, text: str) -> str:
        return self.model.generate(text).text

    @action(name="renamed")
    @monitor(sample_rate=1.0, log_outputs=False)
    def original(self, n: int) -> int:
        return n + 1

    def helper(self) -> None:
        pass


def test_model_and_settings_are_set_before_init_runs() -> None:
    settings = AgentSettings(environment="staging", artifacts_dir=Path("/tmp"))
    bot = instantiate(Notebook, model=EchoModel(), settings=settings)
    assert isinstance(bot.seen_model_at_init, EchoModel)
    assert bot.seen_env_at_init == "staging"
    assert bot.process("hi") == "HI"


def test_actions_are_plain_methods_callable_directly() -> None:
    bot = instantiate(Notebook, model=EchoModel())
    assert bot.original(1) == 2
    assert Notebook.original.__name__ == "original"


def test_action_names_and_monitor_overrides_are_discovered() -> None:
    actions = agent_actions(Notebook)
    assert set(actions) == {"process", "renamed"}
    overrides = monitor_overrides(actions["renamed"])
    assert overrides is not None
    assert overrides.explicit() == {"sample_rate": 1.0, "log_outputs": False}
    assert monitor_overrides(actions["process"]) is None
    assert is_agent(Notebook) and not is_agent(EchoModel)


def test_plain_construction_without_a_model_explains_how_to_provide_one() -> None:
    @agent
    class Plain:
        model: Model

        @action
        def run(self, text: str) -> str:
            return str(self.model.generate(text))

    bot = Plain()
    with pytest.raises(AttributeError, match=r"Plain.model is not set.*handlers.instantiate\(Plain"):
        bot.run("x")


def test_an_agent_may_assign_its_own_model_in_init() -> None:
    @agent
    class OwnModel:
        def __init__(self) -> None:
            self.model = EchoModel()

        @action
        def run(self, text: str) -> str:
            return self.model.generate(text).text

    assert OwnModel().run("a") == "A"


def test_settings_default_when_not_given() -> None:
    bot = instantiate(Notebook, model=EchoModel())
    assert bot.settings.environment == "local"


def test_monitor_rejects_a_sample_rate_outside_0_1() -> None:
    with pytest.raises(ValueError, match=r"between 0\.0 and 1\.0"):
        monitor(sample_rate=1.5)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"text": "a", "input_tokens": 3, "output_tokens": 4, "confidence": 0.5}, ModelResult("a", None, 3, 4, 0.5)),
        ({"output": {"team": "x"}}, ModelResult("", {"team": "x"}, 0, 0, None)),
        (ModelResult("b"), ModelResult("b")),
    ],
)
def test_model_results_coerce_from_dicts(raw: object, expected: ModelResult) -> None:
    assert ModelResult.coerce(raw) == expected


def test_model_result_rejects_unknown_keys_and_types() -> None:
    with pytest.raises(TypeError, match="unknown keys"):
        ModelResult.coerce({"txt": "a"})
    with pytest.raises(TypeError, match="ModelResult or a dict"):
        ModelResult.coerce("text")
