"""Training, export and evaluation of the support router, end to end on the real data."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "support_router"
sys.path.insert(0, str(SAMPLE))

import router_data  # noqa: E402
import router_model  # noqa: E402

#: A small, fast training run: a stratified 15 % of the training part, no cross-validation.
FAST = ["--train-fraction", "0.15", "--cv-folds", "0", "--c", "10", "--keep", "0.2"]


def train(tmp: Path, *extra: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(SAMPLE / "train.py"), "--out", str(tmp / "router.json"),
         "--split-out", str(tmp / "holdout.json"), *FAST, *extra],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def shipped_seed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One training run with the seed the shipped artifact records (shared: a run is ~8 s)."""
    out = tmp_path_factory.mktemp("shipped-seed")
    return out, train(out, "--seed", str(router_model.load(SAMPLE, {}).metadata["seed"]))


@pytest.mark.slow
def test_training_is_reproducible_for_a_seed(shipped_seed_run: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    first, a = shipped_seed_run
    seed = str(router_model.load(SAMPLE, {}).metadata["seed"])
    second, other = tmp_path / "b", tmp_path / "c"

    b, c = train(second, "--seed", seed), train(other, "--seed", "7")

    assert a["sha256"] == b["sha256"] == sha256(first / "router.json") == sha256(second / "router.json")
    assert (first / "holdout.json").read_bytes() == (second / "holdout.json").read_bytes()
    assert c["sha256"] != a["sha256"]
    assert (other / "holdout.json").read_bytes() != (first / "holdout.json").read_bytes()


@pytest.mark.slow
def test_the_shipped_split_is_the_one_the_training_script_writes(shipped_seed_run: tuple[Path, dict[str, Any]]) -> None:
    out, _summary = shipped_seed_run

    assert (out / "holdout.json").read_bytes() == router_data.HOLDOUT_IDS.read_bytes()


@pytest.fixture(scope="module")
def unpruned() -> Any:
    """Both heads fitted on a ninth of the data, unpruned (keep=1: the sklearn model as it is)."""
    import train as training

    return training.FittedRouter(router_data.load_examples()[::9], c=10.0, keep=1.0, team_c=10.0)


@pytest.mark.slow
def test_pure_python_scores_equal_scikit_learn_probabilities(unpruned: Any) -> None:
    scored = router_data.load_examples()[4::31]
    fitted = unpruned
    artifact = fitted.export(router_data.load_teams(), {})  # team_weight 0: the intent head alone
    model = router_model.RouterModel(json.loads(json.dumps(artifact)))

    texts = [e.text for e in scored]
    expected = fitted.classifier.predict_proba(fitted.features.transform(texts))
    for text, row in zip(texts, expected, strict=True):
        assert model.intent_probabilities(text) == pytest.approx(list(row), abs=1e-6)


@pytest.mark.slow
def test_pure_python_team_probabilities_equal_the_blend_of_both_scikit_learn_models(unpruned: Any) -> None:
    import numpy as np
    import train as training

    scored = router_data.load_examples()[4::31]
    fitted = unpruned
    artifact = fitted.export(router_data.load_teams(), {}, temperature=0.8, team_temperature=0.9, team_weight=0.3)
    model = router_model.RouterModel(json.loads(json.dumps(artifact)))

    texts = [e.text for e in scored]
    matrix = fitted.features.transform(texts)
    intent_probs = training.softmax(np.log(fitted.classifier.predict_proba(matrix)) / 0.8)
    head_probs = training.softmax(np.log(fitted.team_classifier.predict_proba(matrix)) / 0.9)
    membership = np.array([[float(artifact["intent_team"][i] == t) for t in model.teams] for i in model.intents])
    expected = 0.7 * intent_probs @ membership + 0.3 * head_probs
    for text, row in zip(texts, expected, strict=True):
        result = model.predict(text)
        assert result["confidence"] == pytest.approx(float(row.max()), abs=1e-6)
        assert result["output"]["team"] == model.teams[int(row.argmax())]


def test_the_artifact_loads_and_predicts_in_a_fresh_process_without_scikit_learn_or_numpy() -> None:
    code = f"""
import json, sys
sys.modules["sklearn"] = None
sys.modules["numpy"] = None
sys.modules["scipy"] = None
sys.path.insert(0, {str(SAMPLE)!r})
from pathlib import Path
import router_model
model = router_model.load(Path({str(SAMPLE)!r}), {{}})
print(json.dumps(model.predict("I lost my card yesterday, please block it")))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("sklearn", "numpy", "scipy")
                        and sys.modules[m] is not None)))
"""
    proc = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    prediction, heavy = (json.loads(line) for line in proc.stdout.strip().splitlines())
    assert prediction["output"]["team"] == "fraud_and_security"
    assert heavy == []


def test_evaluation_of_the_shipped_artifact_on_the_holdout_clears_its_floors(tmp_path: Path) -> None:
    out = tmp_path / "evaluation.json"
    proc = subprocess.run([sys.executable, str(SAMPLE / "evaluate.py"), "--json", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)

    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["examples"] == len(router_data.holdout_examples())
    # Floors well below what the shipped model measures (see docs/samples.md), to catch regressions.
    assert report["intent_accuracy"] >= 0.85
    assert report["team_accuracy"] >= 0.93
    assert report["auto_routed_share"] >= 0.75
    assert report["auto_routed_accuracy"] >= 0.97
    assert report["auto_routed_accuracy"] > report["team_accuracy"] > report["escalated_team_accuracy"]
    assert len(report["per_team"]) == 9
    for team, row in report["per_team"].items():
        assert row["precision"] >= 0.8 and row["recall"] >= 0.8, team
    assert "auto-routed accuracy" in proc.stdout


def test_the_threshold_is_the_lowest_that_reaches_the_target_accuracy() -> None:
    import numpy as np
    import train as training

    confidence = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35])
    correct = np.array([True, True, True, True, False, True, False, False])

    choice = training.choose_threshold(confidence, correct, target=0.99)

    assert choice["threshold"] == 0.61  # from 0.61 up, the four routed messages are all right
    assert choice["auto_routed_share"] == 0.5
    assert choice["auto_routed_accuracy"] == 1.0
    assert training.choose_threshold(confidence, correct, target=0.6)["threshold"] == 0.30


def test_evaluate_counts_precision_recall_and_the_auto_routed_share() -> None:
    import evaluate

    def prediction(true_team: str, team: str, confidence: float) -> Any:
        example = router_data.Example(row=0, text="x", intent=f"{true_team}_intent", team=true_team)
        return evaluate.Prediction(example, team, f"{team}_intent", confidence)

    predictions = [
        prediction("cards", "cards", 0.9),
        prediction("cards", "transfers", 0.4),
        prediction("transfers", "transfers", 0.8),
        prediction("transfers", "transfers", 0.3),
    ]

    report = evaluate.evaluate(predictions, threshold=0.5)

    assert report["team_accuracy"] == report["intent_accuracy"] == 0.75
    assert report["auto_routed_share"] == 0.5 and report["auto_routed_accuracy"] == 1.0
    assert report["escalated"] == 2 and report["escalated_team_accuracy"] == 0.5
    assert report["per_team"]["cards"] == {"support": 2, "precision": 1.0, "recall": 0.5, "auto_routed_precision": 1.0}
    assert report["per_team"]["transfers"]["precision"] == pytest.approx(2 / 3)
    assert report["per_team"]["transfers"]["recall"] == 1.0


def test_the_spec_threshold_is_read_from_agent_yaml() -> None:
    import evaluate

    assert evaluate.spec_threshold(REPO / "agent.yaml") == router_model.load(SAMPLE, {}).metadata[
        "confidence_threshold"
    ]


def test_the_temperature_fitted_on_logits_recovers_the_one_that_generated_the_labels() -> None:
    import numpy as np
    import train as training

    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, 10))
    probs = training.softmax(logits / 0.5)
    labels = np.array([rng.choice(10, p=row) for row in probs])

    assert training.fit_temperature(logits, labels) == pytest.approx(0.5, abs=0.05)
