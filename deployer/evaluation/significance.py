"""Is a difference between two versions on the same examples real? Paired tests, pure Python.

- Labels (right or wrong per example): McNemar's exact test on the discordant pairs. `b` examples
  the stable version got right and the candidate wrong, `c` the reverse; under "no difference"
  each discordant pair is a fair coin, so `b ~ Binomial(b + c, 1/2)`.
- Scores (a number per example): a paired bootstrap of the mean difference, seeded.

Each result also says how many examples the test would need to detect a given drop with 80 %
power at its significance level, so that "not significant" can be told apart from "too few
examples to tell".
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class PairedResult:
    test: str  # "mcnemar-exact" | "paired-bootstrap"
    n: int  # examples compared
    stable: float  # accuracy or mean score of the stable version
    candidate: float
    difference: float  # candidate - stable
    p_value: float  # one-sided: the candidate is worse
    p_value_two_sided: float
    significant_drop: bool  # p_value < alpha and difference < 0
    needed_n: int | None  # examples needed to detect a drop of `detectable` with 80 % power
    detectable: float  # the drop `needed_n` refers to (the gate's max regression)
    discordant: tuple[int, int] | None = None  # (b, c) for McNemar
    interval: tuple[float, float] | None = None  # 95 % bootstrap interval of the difference

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exact."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return float(sum(math.comb(n, i) for i in range(k, n + 1)) / 2**n)


def mcnemar_exact(stable_correct: Sequence[bool], candidate_correct: Sequence[bool], *, alpha: float = ALPHA,
                  detectable: float = 0.02) -> PairedResult:
    """McNemar's exact test that the candidate is worse than the stable version on the same examples."""
    if len(stable_correct) != len(candidate_correct):
        raise ValueError("paired results need the same examples for both versions")
    n = len(stable_correct)
    b = sum(1 for s, c in zip(stable_correct, candidate_correct, strict=True) if s and not c)
    c = sum(1 for s, c in zip(stable_correct, candidate_correct, strict=True) if c and not s)
    discordant = b + c
    one_sided = binomial_tail(b, discordant)
    two_sided = min(1.0, 2 * min(binomial_tail(b, discordant), binomial_tail(c, discordant)))
    stable_acc = sum(stable_correct) / n if n else 0.0
    candidate_acc = sum(candidate_correct) / n if n else 0.0
    difference = candidate_acc - stable_acc
    return PairedResult(
        "mcnemar-exact", n, stable_acc, candidate_acc, difference, one_sided, two_sided,
        significant_drop=difference < 0 and one_sided < alpha,
        needed_n=mcnemar_sample_size(discordant / n if n else 0.0, detectable, alpha=alpha),
        detectable=detectable, discordant=(b, c),
    )


def mcnemar_sample_size(discordant_rate: float, drop: float, *, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Examples needed to detect an accuracy drop of `drop` with McNemar's test (Connor, 1987).

    `discordant_rate` is the share of examples on which the two versions disagree (at least the
    drop itself: a drop of d needs at least d of the examples to change)."""
    if drop <= 0:
        return None
    psi = max(discordant_rate, drop)
    z_a, z_b = NormalDist().inv_cdf(1 - alpha), NormalDist().inv_cdf(power)
    n = (z_a * math.sqrt(psi) + z_b * math.sqrt(max(psi - drop**2, 1e-12))) ** 2 / drop**2
    return math.ceil(n)


def paired_bootstrap(stable: Sequence[float], candidate: Sequence[float], *, alpha: float = ALPHA,
                     detectable: float = 0.02, resamples: int = 2000, seed: int = 7) -> PairedResult:
    """A paired bootstrap of the mean score difference (candidate - stable), seeded and bounded."""
    if len(stable) != len(candidate):
        raise ValueError("paired results need the same examples for both versions")
    n = len(stable)
    if n == 0:
        raise ValueError("no examples to compare")
    deltas = [c - s for s, c in zip(stable, candidate, strict=True)]
    mean = sum(deltas) / n
    rng = random.Random(seed)
    means = sorted(sum(deltas[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    # one-sided p: how often a resample shows no drop at all, under the observed spread
    worse = sum(1 for m in means if m >= 0) / resamples
    better = sum(1 for m in means if m <= 0) / resamples
    low, high = means[int(resamples * alpha / 2)], means[int(resamples * (1 - alpha / 2)) - 1]
    spread = math.sqrt(sum((d - mean) ** 2 for d in deltas) / max(1, n - 1))
    z = NormalDist().inv_cdf(1 - alpha) + NormalDist().inv_cdf(POWER)
    needed = math.ceil((z * spread / detectable) ** 2) if detectable > 0 and spread > 0 else None
    return PairedResult(
        "paired-bootstrap", n, sum(stable) / n, sum(candidate) / n, mean, worse, min(1.0, 2 * min(worse, better)),
        significant_drop=mean < 0 and worse < alpha, needed_n=needed, detectable=detectable, interval=(low, high),
    )


# -- online signals: candidate against stable over the same window -----------------------------


def chi_square_critical(df: int, alpha: float = 0.01) -> float:
    """The chi-square value with P(X > value) = alpha for `df` degrees of freedom: exact for one and
    two degrees (a squared normal, an exponential), Wilson-Hilferty beyond (within 3 % of the exact
    quantile). The compiler puts it in the model, so the state machine and the emulator compare a
    statistic with the same number."""
    if df < 1:
        raise ValueError("a chi-square test needs at least two categories")
    if df == 1:
        return float(NormalDist().inv_cdf(1 - alpha / 2) ** 2)
    if df == 2:
        return float(-2 * math.log(alpha))
    z = NormalDist().inv_cdf(1 - alpha)
    k = 2 / (9 * df)
    return float(df * (1 - k + z * math.sqrt(k)) ** 3)


def chi_square_homogeneity(stable: Sequence[float], candidate: Sequence[float]) -> tuple[float, int]:
    """Pearson's statistic that two count vectors (same categories) come from one distribution,
    and its degrees of freedom (categories seen in either, minus one)."""
    pairs = [(s, c) for s, c in zip(stable, candidate, strict=True) if s + c > 0]
    total_s, total_c = sum(s for s, _ in pairs), sum(c for _, c in pairs)
    if len(pairs) < 2 or total_s <= 0 or total_c <= 0:
        return 0.0, max(0, len(pairs) - 1)
    grand = total_s + total_c
    statistic = 0.0
    for s, c in pairs:
        row = s + c
        for observed, column in ((s, total_s), (c, total_c)):
            expected = row * column / grand
            statistic += (observed - expected) ** 2 / expected
    return statistic, len(pairs) - 1


def total_variation(stable: Sequence[float], candidate: Sequence[float]) -> float:
    """Half the L1 distance between two count vectors as distributions (0: the same, 1: disjoint)."""
    total_s, total_c = sum(stable), sum(candidate)
    if total_s <= 0 or total_c <= 0:
        return 0.0
    return 0.5 * sum(abs(s / total_s - c / total_c) for s, c in zip(stable, candidate, strict=True))


def proportion_increase_z(stable_hits: float, stable_n: float, candidate_hits: float, candidate_n: float) -> float:
    """Two-proportion z statistic that the candidate's rate is higher (pooled standard error)."""
    if stable_n <= 0 or candidate_n <= 0:
        return 0.0
    pooled = (stable_hits + candidate_hits) / (stable_n + candidate_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / stable_n + 1 / candidate_n))
    return 0.0 if se == 0 else (candidate_hits / candidate_n - stable_hits / stable_n) / se
