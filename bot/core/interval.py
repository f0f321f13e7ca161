"""How sure a share measured on a sample is: the Wilson score interval of a binomial share.

Pure. Wilson's interval stays inside 0..1 and keeps a sensible width at 0 of n and n of n, where
the normal approximation collapses to a point; it is what `scipy.stats.binomtest(k,
n).proportion_ci(method="wilson")` gives, computed here with the standard library alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt
from statistics import NormalDist

CONFIDENCE = 0.95
"""The confidence level of the intervals `tierbot calibrate` shows."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A share's estimate (`share`, None with no trials) and the bounds it lies within at the
    confidence level, from `successes` of `trials`."""

    successes: int
    trials: int
    low: float
    high: float

    @property
    def share(self) -> float | None:
        return self.successes / self.trials if self.trials else None


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> Interval:
    """The Wilson score interval of `successes` in `trials` at `confidence` (0 to 1); with no
    trials nothing is known: 0 to 1."""
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be from 0 to trials, not {successes} of {trials}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if trials == 0:
        return Interval(0, 0, 0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / trials
    spread = z * z / trials
    centre = (share + spread / 2) / (1 + spread)
    half = z * sqrt(share * (1 - share) / trials + spread / (4 * trials)) / (1 + spread)
    low = 0.0 if successes == 0 else max(centre - half, 0.0)
    high = 1.0 if successes == trials else min(centre + half, 1.0)
    return Interval(successes, trials, low, high)
