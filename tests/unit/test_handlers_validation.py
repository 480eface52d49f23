"""Input validation written as pydantic-core schemas says what pydantic's TypeAdapter says."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from typing import Annotated, Any, Literal, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict

from handlers.validation import InputError, InputValidator, _type_adapter, core_schema_of
from tests.helpers.properties import examples

# Both spellings users write: `X | None` and `Optional[X]`, `list[X]` and `typing.List[X]`.
SIMPLE_HINTS: list[Any] = [
    str, int, float, bool, type(None), Any, list, dict, list[str], list[int], dict[str, Any], dict[str, float],
    str | None, Literal["a", "b"], Literal[1, 2], list[dict[str, int]], dict[str, list[str]] | None,
    Optional[int], typing.Optional[list[float]], typing.List[int], typing.Dict[str, str],  # noqa: UP006, UP045
]


def _pydantic_field_schema(hint: Any) -> dict[str, Any]:
    typed: Any = with_config(ConfigDict(extra="forbid"))(TypedDict("probe_input", {"x": hint}))  # type: ignore[operator]
    return TypeAdapter(typed).core_schema["fields"]["x"]["schema"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("hint", SIMPLE_HINTS, ids=repr)
def test_the_written_schema_is_the_one_pydantic_generates(hint: Any) -> None:
    assert core_schema_of(hint) == _pydantic_field_schema(hint)


class Item(BaseModel):
    name: str


@pytest.mark.parametrize("hint", [Item, Annotated[int, Field(gt=0)], tuple[int, str], set[str], bytes, list[Item],
                                  int | str], ids=repr)
def test_other_hints_are_left_to_pydantic(hint: Any) -> None:
    assert core_schema_of(hint) is None


class Simple:
    def route(self, message: str, count: int = 1, ratio: float = 0.5, loud: bool = False, tags: list[str] | None = None,
              mode: Literal["fast", "slow"] = "fast", extra: dict[str, Any] | None = None) -> dict[str, str]:
        return {}


def _both() -> tuple[InputValidator, Any]:
    ours = InputValidator(Simple().route, "route")
    hints = typing.get_type_hints(Simple.route)
    fields = {name: (hints[name], name == "message") for name in ours.known}
    return ours, _type_adapter("route_input", fields)


def _outcome(call: Any, body: Any) -> Any:
    try:
        value = call(body)
    except InputError as exc:
        return ("error", exc.status, exc.message)
    return ("ok", repr(value))


_VALUES = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=4) \
    | st.sampled_from(["fast", "slow", "1", "true", "0.5", "yes"]) | st.lists(st.text(max_size=3), max_size=3) \
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
_BODIES = st.dictionaries(st.sampled_from(["message", "count", "ratio", "loud", "tags", "mode", "extra", "other"]), _VALUES,
                          max_size=6)


@settings(max_examples=examples(500), deadline=None)
@given(body=_BODIES)
def test_written_and_pydantic_validators_answer_alike(body: dict[str, Any]) -> None:
    ours, adapter = _both()
    assert ours.built_with == "pydantic-core"
    reference = InputValidator.__new__(InputValidator)
    reference.known, reference._adapter, reference._error_type = ours.known, adapter, ours._error_type
    text = json.dumps(body)
    assert _outcome(ours.validate_json, text) == _outcome(reference.validate_json, text)
    assert _outcome(ours.validate_python, body) == _outcome(reference.validate_python, body)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"', "{}", '{"message": 3}', '{"message": "x", "zzz": 1}'])
def test_bad_bodies_get_the_same_answer(body: str) -> None:
    ours, adapter = _both()
    reference = InputValidator.__new__(InputValidator)
    reference.known, reference._adapter, reference._error_type = ours.known, adapter, ours._error_type
    assert _outcome(ours.validate_json, body) == _outcome(reference.validate_json, body)


def test_a_model_parameter_is_validated_by_pydantic() -> None:
    class WithModel:
        def route(self, item: Item) -> str:
            return item.name

    validator = InputValidator(WithModel().route, "route")
    assert validator.built_with == "pydantic"
    assert validator.validate_json('{"item": {"name": "x"}}')["item"] == Item(name="x")


def test_simple_signatures_validate_without_importing_pydantic() -> None:
    code = (
        "import sys\n"
        "from handlers.validation import InputValidator\n"
        "class A:\n"
        "    def route(self, message: str, n: int | None = None) -> str: ...\n"
        "v = InputValidator(A().route, 'route')\n"
        "assert v.validate_json('{\"message\": \"hi\"}') == {'message': 'hi'}\n"
        "print(sorted(m for m in sys.modules if m == 'pydantic' or m.startswith('pydantic.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_optional_parameters_may_be_left_out_but_required_ones_not() -> None:
    validator = InputValidator(Simple().route, "route")
    assert validator.validate_json('{"message": "hi"}') == {"message": "hi"}
    with pytest.raises(InputError, match="message: Field required"):
        validator.validate_json('{"count": 2}')
