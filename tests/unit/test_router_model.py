"""The support router's pure-Python model: analyzers, prediction contract, shipped artifact."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "support_router"
sys.path.insert(0, str(SAMPLE))

import router_data  # noqa: E402
import router_model  # noqa: E402

MESSAGES = [
    "I am still waiting on my card?",
    "Why   is there a £1 fee\ton my  transfer??",
    "Can I use Apple Pay / Google Pay with my new card",
    "a",
    "Ça ne marche pas: mon paiement sans contact est refusé",
    "",
    "top-up   failed twice...   what's going on",
]


@pytest.fixture(scope="module")
def model() -> router_model.RouterModel:
    return router_model.load(SAMPLE, {})


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 3)])
def test_word_ngrams_match_scikit_learn(ngram_range: tuple[int, int]) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    reference = TfidfVectorizer(analyzer="word", ngram_range=ngram_range).build_analyzer()
    for text in MESSAGES:
        assert router_model.word_ngrams(text, ngram_range) == reference(text)


@pytest.mark.parametrize("ngram_range", [(1, 3), (2, 5), (4, 6)])
def test_char_wb_ngrams_match_scikit_learn(ngram_range: tuple[int, int]) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    reference = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range).build_analyzer()
    for text in MESSAGES:
        assert router_model.char_wb_ngrams(text, ngram_range) == reference(text)


def test_analyzers_match_scikit_learn_on_real_messages() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2)).build_analyzer()
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    for example in router_data.load_examples()[::50]:
        assert router_model.word_ngrams(example.text, (1, 2)) == words(example.text)
        assert router_model.char_wb_ngrams(example.text, (2, 5)) == chars(example.text)


def test_prediction_has_the_provider_result_shape(model: router_model.RouterModel) -> None:
    result = model.predict("My card has not arrived yet, it has been two weeks")

    assert set(result) == {"output", "confidence", "input_tokens", "output_tokens"}
    output = result["output"]
    assert output["team"] == "cards"
    assert output["intent"] == "card_arrival"
    assert 0.5 < result["confidence"] <= 1.0
    # the team probability blends the sum of its intents' probabilities (weight 1 - w) with the team head's
    assert (1.0 - model.team_weight) * output["intent_probability"] <= result["confidence"] + 1e-9


def test_the_intent_always_belongs_to_the_team(model: router_model.RouterModel) -> None:
    intent_team = router_data.load_teams()
    for example in router_data.load_examples()[::97]:
        output = model.predict(example.text)["output"]
        assert intent_team[output["intent"]] == output["team"]


def test_alternatives_are_the_likeliest_intents_best_first(model: router_model.RouterModel) -> None:
    alternatives = model.predict("I think someone stole my card and used it")["output"]["alternatives"]

    assert len(alternatives) == 3
    probabilities = [a["probability"] for a in alternatives]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(a["team"] == router_data.load_teams()[a["intent"]] for a in alternatives)


def test_intent_probabilities_sum_to_one(model: router_model.RouterModel) -> None:
    probs = model.intent_probabilities("how do I change my PIN?")

    assert len(probs) == 77
    assert sum(probs) == pytest.approx(1.0)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_an_empty_message_is_a_value_error_that_says_what_to_send(model: router_model.RouterModel, text: str) -> None:
    with pytest.raises(ValueError, match="message is empty"):
        model.predict(text)


def test_a_message_of_unknown_words_still_gets_a_low_confidence_answer(model: router_model.RouterModel) -> None:
    result = model.predict("zzqx")

    assert result["output"]["team"] in model.teams
    assert result["confidence"] < 0.5


def test_a_missing_artifact_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"train\.py"):
        router_model.load(tmp_path, {})


def test_an_artifact_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="support-router/1"):
        router_model.RouterModel({"format": "something-else"})


def test_parameters_choose_the_artifact_and_the_number_of_alternatives() -> None:
    model = router_model.load(SAMPLE, {"artifact": "model/router.json", "top_k": 5})

    assert len(model.predict("cancel my transfer")["output"]["alternatives"]) == 5


def test_packed_arrays_round_trip() -> None:
    values = [0.0, 1.5, -2.25, 3.0e-5]
    assert router_model._decode(router_model.encode_array(values, "f"), "f") == pytest.approx(values)
    assert router_model._decode(router_model.encode_array([0, 7, 2**31], "I"), "I") == [0, 7, 2**31]


def test_the_held_out_split_is_stratified_and_disjoint_from_training(model: router_model.RouterModel) -> None:
    examples = router_data.load_examples()
    holdout = router_data.holdout_examples()
    training, held = router_data.split_examples(examples, {e.row for e in holdout})

    assert held == holdout
    assert not {e.row for e in held} & {e.row for e in training}
    assert len(training) == model.metadata["training_examples"]
    assert 0.14 < len(holdout) / len(examples) < 0.16
    assert {e.intent for e in holdout} == {e.intent for e in examples}  # every intent is held out


def test_a_lower_temperature_sharpens_the_probabilities_without_changing_the_winner() -> None:
    artifact = json.loads(router_data.ARTIFACT.read_text())
    hot, cold = dict(artifact, temperature=1.0), dict(artifact, temperature=0.5)
    text = "I want to change my PIN"

    p_hot = router_model.RouterModel(hot).intent_probabilities(text)
    p_cold = router_model.RouterModel(cold).intent_probabilities(text)

    winner = max(range(len(p_hot)), key=p_hot.__getitem__)
    assert max(range(len(p_cold)), key=p_cold.__getitem__) == winner
    assert p_cold[winner] > p_hot[winner]


def test_the_shipped_artifact_is_calibrated_by_cross_validation(model: router_model.RouterModel) -> None:
    cv = model.metadata["cross_validation"]

    assert model.temperature == model.metadata["temperature"] == cv["temperature"]
    assert 0.2 <= model.temperature <= 2.0
    assert model.metadata["confidence_threshold"] == cv["threshold"]


def test_the_load_inputs_are_the_held_out_messages_and_nothing_from_training() -> None:
    lines = (router_data.DATA_DIR / "load_inputs.jsonl").read_text(encoding="utf-8").splitlines()
    inputs = [json.loads(line) for line in lines]

    assert [item["message"] for item in inputs] == [e.text for e in router_data.holdout_examples()]
    assert all(item["weight"] == 1 for item in inputs)
