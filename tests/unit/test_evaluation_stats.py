"""Scoring and the paired tests, against worked examples and an independent implementation."""

from __future__ import annotations

import random

import pytest
from scipy.stats import binomtest

from deployer.evaluation.scoring import correct, label_figures
from deployer.evaluation.significance import binomial_tail, mcnemar_exact, mcnemar_sample_size, paired_bootstrap


def test_label_figures_on_a_worked_example():
    # expected: 4 cards, 4 billing, 2 fraud; the model sends one card to billing and both fraud to cards
    expected = ["cards"] * 4 + ["billing"] * 4 + ["fraud"] * 2
    predicted = ["cards", "cards", "cards", "billing", "billing", "billing", "billing", "billing", "cards", "cards"]
    figures = label_figures(expected, predicted)
    assert figures.accuracy == pytest.approx(7 / 10)
    by = {c.label: c for c in figures.classes}
    assert (by["cards"].precision, by["cards"].recall) == (pytest.approx(3 / 5), pytest.approx(3 / 4))
    assert (by["billing"].precision, by["billing"].recall) == (pytest.approx(4 / 5), 1.0)
    assert (by["fraud"].precision, by["fraud"].recall, by["fraud"].f1) == (0.0, 0.0, 0.0)
    f1_cards, f1_billing = 2 * 0.6 * 0.75 / 1.35, 2 * 0.8 / 1.8
    assert figures.macro_f1 == pytest.approx((f1_cards + f1_billing + 0) / 3)
    assert figures.confusion["fraud"] == {"cards": 2} and figures.confusion["cards"] == {"cards": 3, "billing": 1}


@pytest.mark.parametrize(("kind", "answer", "expected", "field", "right"), [
    ("label", {"team": "cards"}, {"team": "cards"}, "team", True),
    ("label", {"team": "cards"}, {"team": "billing"}, "team", False),
    ("label", {}, {"team": "billing"}, "team", False),
    ("exact", {"text": "42"}, "42", "text", True),
    ("contains", {"reply": "Your CARD is on its way"}, "card", "reply", True),
    ("regex", "refund in 5 days", r"\d+ days", None, True),
    ("regex", "refund soon", r"\d+ days", None, False),
])
def test_one_answer_is_right_or_wrong(kind, answer, expected, field, right):
    assert correct(kind, answer, expected, field=field) is right


@pytest.mark.parametrize(("k", "n"), [(0, 0), (1, 8), (7, 8), (12, 20), (30, 40), (3, 3)])
def test_the_exact_binomial_tail_matches_scipy(k, n):
    expected = binomtest(k, n, 0.5, alternative="greater").pvalue if n else 1.0
    assert binomial_tail(k, n) == pytest.approx(expected)


def test_mcnemar_on_a_worked_example():
    # 100 examples; the stable version is right on 80; the candidate loses 11 of them and gains 3
    stable = [True] * 80 + [False] * 20
    candidate = [True] * 69 + [False] * 11 + [True] * 3 + [False] * 17
    result = mcnemar_exact(stable, candidate)
    assert result.discordant == (11, 3) and result.difference == pytest.approx(-0.08)
    assert result.p_value == pytest.approx(binomtest(11, 14, 0.5, alternative="greater").pvalue)
    assert result.p_value_two_sided == pytest.approx(binomtest(11, 14, 0.5).pvalue)
    assert result.significant_drop  # p = 0.029


def test_mcnemar_does_not_call_noise_a_drop():
    stable = [True] * 80 + [False] * 20
    candidate = [True] * 76 + [False] * 4 + [True] * 3 + [False] * 17  # 4 lost, 3 gained
    result = mcnemar_exact(stable, candidate)
    assert not result.significant_drop and result.p_value > 0.4


def test_the_sample_size_grows_as_the_drop_to_detect_shrinks():
    assert mcnemar_sample_size(0.1, 0.05) < mcnemar_sample_size(0.1, 0.02) < mcnemar_sample_size(0.1, 0.01)
    assert mcnemar_sample_size(0.1, 0.0) is None


def test_the_paired_bootstrap_finds_a_real_drop_and_not_noise():
    rng = random.Random(1)
    stable = [rng.random() for _ in range(300)]
    worse = [s - 0.1 + rng.gauss(0, 0.05) for s in stable]
    noisy = [s + rng.gauss(0, 0.05) for s in stable]
    assert paired_bootstrap(stable, worse).significant_drop
    result = paired_bootstrap(stable, noisy)
    assert not result.significant_drop and result.interval is not None
    assert result.interval[0] < 0 < result.interval[1]


@pytest.mark.parametrize("df", [1, 2, 5, 8, 20])
@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.001])
def test_the_chi_square_critical_value_is_close_to_the_exact_quantile(df, alpha):
    from scipy.stats import chi2

    from deployer.evaluation.significance import chi_square_critical

    assert chi_square_critical(df, alpha) == pytest.approx(chi2.ppf(1 - alpha, df), rel=0.03)


def test_the_homogeneity_statistic_matches_scipy_and_ignores_empty_categories():
    from scipy.stats import chi2_contingency

    from deployer.evaluation.significance import chi_square_homogeneity, total_variation

    stable, candidate = [50, 30, 20, 0], [20, 30, 50, 0]
    statistic, df = chi_square_homogeneity(stable, candidate)
    expected, _, expected_df, _ = chi2_contingency([stable[:3], candidate[:3]], correction=False)
    assert (statistic, df) == (pytest.approx(expected), expected_df)
    assert total_variation(stable, candidate) == pytest.approx(0.3)
    assert chi_square_homogeneity([10, 0], [0, 0]) == (0.0, 0)


def test_the_two_proportion_z_is_positive_when_the_candidate_escalates_more():
    from deployer.evaluation.significance import proportion_increase_z

    assert proportion_increase_z(50, 1000, 90, 1000) > 3
    assert abs(proportion_increase_z(50, 1000, 52, 1000)) < 1
    assert proportion_increase_z(0, 0, 5, 10) == 0.0
