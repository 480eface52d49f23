"""The online quality gate: a canary's answers against the stable version's over the same window.

The rule of `QualityGateModel`, in one place for the emulator's rollout engine; the state machine
evaluates the same arithmetic in JSONata (`infra.state_machine`), and the parity tests compare
them. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from deployer.compiled import QualityGateModel
from deployer.evaluation.significance import chi_square_homogeneity, proportion_increase_z, total_variation


@dataclass(frozen=True)
class VersionSignals:
    """One version's answers in the window: per label, and the low-confidence hits out of those scored."""

    labels: Mapping[str, float]
    low_confidence: float = 0.0
    scored: float = 0.0


def quality_drop(gate: QualityGateModel, stable: VersionSignals, candidate: VersionSignals, *,
                 stable_version: str, candidate_version: str) -> str | None:
    """Why the candidate answers worse than the stable version, or None (also when too few answers)."""
    if gate.field and gate.labels:
        s = [float(stable.labels.get(label, 0.0)) for label in gate.labels]
        c = [float(candidate.labels.get(label, 0.0)) for label in gate.labels]
        if sum(s) >= gate.min_samples and sum(c) >= gate.min_samples:
            statistic, _ = chi_square_homogeneity(s, c)
            shift = total_variation(s, c)
            if statistic > gate.chi_square_critical and shift > gate.max_shift:
                return (f"the distribution of {gate.field} on version {candidate_version} differs from version "
                        f"{stable_version}'s (total variation {shift:.3f} > {gate.max_shift:g}; chi-square "
                        f"{statistic:.1f} > {gate.chi_square_critical:.1f} at alpha {gate.alpha:g}; "
                        f"{sum(c):.0f} and {sum(s):.0f} answers)")
    if gate.low_confidence and stable.scored >= gate.min_samples and candidate.scored >= gate.min_samples:
        z = proportion_increase_z(stable.low_confidence, stable.scored, candidate.low_confidence, candidate.scored)
        rise = candidate.low_confidence / candidate.scored - stable.low_confidence / stable.scored
        if z > gate.z_critical and rise > gate.max_shift:
            return (f"{100 * candidate.low_confidence / candidate.scored:.1f} % of version {candidate_version}'s "
                    f"answers are below the confidence threshold, against "
                    f"{100 * stable.low_confidence / stable.scored:.1f} % for version {stable_version} (z {z:.2f} > "
                    f"{gate.z_critical:.2f})")
    return None
