"""The calibration arithmetic (bot.core.calibration, bot.core.interval): the Wilson interval
against scipy's, which findings count, the curves on samples whose right answer is worked out
by hand here, the recommendation and the settings snippet, and a clear refusal on too little
data. The same through the ledger and the command line: tests/test_calibrate_cli.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from scipy.stats import binomtest

from bot.core.answer_schema import Severity
from bot.core.calibration import (
    MIN_FINDINGS,
    MIN_SHADOWS,
    Calibration,
    Observed,
    ReviewSample,
    ShadowSample,
    calibrate,
)
from bot.core.interval import wilson
from bot.core.matching import FoundBy

MAJOR, CRITICAL, MINOR = Severity.MAJOR, Severity.CRITICAL, Severity.MINOR
LOCAL_USD, BASELINE_USD, SHADOW_USD = Decimal("0.001"), Decimal("0.01"), Decimal("0.01")


@pytest.mark.parametrize(("k", "n"), [(0, 40), (1, 40), (7, 20), (20, 20), (3, 5), (0, 1), (1, 1)])
def test_the_wilson_interval_is_scipys(k: int, n: int) -> None:
    ours = wilson(k, n)
    theirs = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert ours.low == pytest.approx(theirs.low, abs=1e-12)
    assert ours.high == pytest.approx(theirs.high, abs=1e-12)
    assert ours.share == k / n


def test_with_no_trials_nothing_is_known_and_bad_counts_are_refused() -> None:
    none = wilson(0, 0)
    assert (none.share, none.low, none.high) == (None, 0.0, 1.0)
    with pytest.raises(ValueError, match="successes must be from 0 to trials"):
        wilson(3, 2)


@pytest.mark.parametrize(
    ("observed", "counted", "missed"),
    [
        (Observed(FoundBy.FRONTIER, MAJOR), True, True),
        (Observed(FoundBy.FRONTIER, MINOR), False, False),  # only major and critical count
        (Observed(FoundBy.BOTH, CRITICAL), True, False),
        # People gave the local comment a 👎: not a real finding of either.
        (Observed(FoundBy.BOTH, MAJOR, disliked=True), False, False),
        (Observed(FoundBy.BOTH, MAJOR, liked=True, disliked=True), True, False),
        # The local model alone: counts only when people confirmed it.
        (Observed(FoundBy.LOCAL, MAJOR), False, False),
        (Observed(FoundBy.LOCAL, MAJOR, liked=True), True, False),
        (Observed(FoundBy.LOCAL, MAJOR, liked=True, disliked=True), False, False),
    ],
)
def test_which_findings_count_and_which_are_missed(
    observed: Observed, counted: bool, missed: bool
) -> None:
    sample = ShadowSample(10, LOCAL_USD, SHADOW_USD, (observed,))
    assert (sample.found, sample.missed) == (int(counted), int(missed))


def synthetic() -> tuple[list[ReviewSample], list[ShadowSample]]:
    """Twenty shadowed local reviews scored 0, 5, ..., 95, each with two major findings the
    frontier model made: below 50 the local model made both, from 50 up it missed one. Its
    mean token entropy is 0.2 where it found both and 0.8 where it missed one (95th percentile
    1.0 and 2.6). Each local review cost $0.001 against a $0.01 baseline, each shadow $0.01;
    two more reviews scored 97 went to the frontier model at $0.02."""
    reviews = [ReviewSample(score, True, LOCAL_USD, BASELINE_USD) for score in range(0, 100, 5)]
    reviews += [ReviewSample(97, False, Decimal("0.02"), Decimal("0.02"))] * 2
    shadows = []
    for score in range(0, 100, 5):
        hard = score >= 50
        findings = (
            Observed(FoundBy.BOTH, MAJOR),
            Observed(FoundBy.FRONTIER if hard else FoundBy.BOTH, MAJOR),
        )
        shadows.append(
            ShadowSample(
                score,
                LOCAL_USD,
                SHADOW_USD,
                findings,
                mean_entropy=0.8 if hard else 0.2,
                quantile_entropy=2.6 if hard else 1.0,
            )
        )
    return reviews, shadows


def point(calibration: Calibration, setting: str, threshold: str) -> object:
    curve = next(c for c in calibration.curves if c.setting == setting)
    return next(p for p in curve.points if p.threshold == Decimal(threshold))


def test_the_routing_curve_on_a_known_sample() -> None:
    calibration = calibrate(*synthetic())
    assert (calibration.reviews, calibration.shadows, calibration.findings) == (22, 20, 40)
    routing = {p.threshold: p for p in calibration.routing.points}
    # Nothing goes local at 0: every change costs its baseline and nothing is missed, exactly.
    zero = routing[Decimal(0)]
    assert zero.cost_usd == 20 * BASELINE_USD + 2 * Decimal("0.02")
    assert (zero.frontier_share, zero.missed.high, zero.meets) == (Decimal(1), 0.0, True)
    # At 50: ten changes local at $0.001, ten and the two at 97 frontier; none missed yet.
    fifty = routing[Decimal(50)]
    assert fifty.cost_usd == 10 * LOCAL_USD + 10 * BASELINE_USD + 2 * Decimal("0.02")
    assert fifty.frontier_share == Decimal(12) / 22
    assert (fifty.missed.successes, fifty.missed.trials) == (0, 40)
    assert fifty.missed.high == pytest.approx(wilson(0, 40).high)
    # At 70: the changes scored 50 to 65 are local and each misses one of the 40 findings.
    seventy = routing[Decimal(70)]
    assert (seventy.missed.successes, seventy.missed.share) == (4, 0.1)
    assert seventy.measured
    assert not seventy.meets
    # At 100 the two changes scored 97 would go local, but no shadowed change reaches 97: the
    # cost is estimated (local work costs a tenth of its baseline here) and nothing measured.
    top = routing[Decimal(100)]
    assert top.cost_usd == 20 * LOCAL_USD + 2 * Decimal("0.02") / 10
    assert not top.measured
    assert not top.meets
    assert routing[Decimal(95)].measured


def test_the_recommendation_is_the_cheapest_threshold_within_the_target() -> None:
    calibration = calibrate(*synthetic(), target=Decimal("0.1"))
    assert calibration.problem is None
    # 0 of 40 missed has an upper bound of 8.8%: within 10%; 1 of 40 has 12.9%: not.
    assert wilson(0, 40).high < 0.1 < wilson(1, 40).high
    assert calibration.routing.recommended is not None
    assert calibration.routing.recommended.threshold == 50
    mean, quantile = calibration.escalation
    # Escalating every review above 0.7 nats redoes the ten that missed at $0.01 each.
    assert mean.recommended is not None
    assert mean.recommended.threshold == Decimal("0.7")
    assert mean.recommended.cost_usd == 20 * LOCAL_USD + 10 * SHADOW_USD
    assert mean.recommended.frontier_share == Decimal("0.5")
    assert quantile.recommended is not None
    assert quantile.recommended.threshold == Decimal("2.5")
    # Above every measure seen, nothing is measured: no review above it was shadowed.
    assert not next(p for p in quantile.points if p.threshold == Decimal("2.75")).measured
    assert calibration.snippet() == (
        "routing:\n  threshold: 50\nescalation:\n  mean_entropy: 0.7\n  quantile_entropy: 2.5\n"
    )


def test_a_looser_target_recommends_a_cheaper_threshold() -> None:
    # 4 of 40 missed at 70 has an upper bound of 23%: within 25%, and 5 of 40 (at 75) is not.
    assert wilson(4, 40).high < 0.25 < wilson(5, 40).high
    calibration = calibrate(*synthetic(), target=Decimal("0.25"))
    assert calibration.routing.recommended is not None
    assert calibration.routing.recommended.threshold == 70


def test_when_the_local_model_misses_everything_everything_goes_to_the_frontier_model() -> None:
    reviews, shadows = synthetic()
    # The local model misses everything, even on the easiest change, however sure it was.
    missing = [
        ShadowSample(
            s.score,
            s.local_usd,
            s.frontier_usd,
            (Observed(FoundBy.FRONTIER, MAJOR),) * 2,
            mean_entropy=0.3,
            quantile_entropy=0.0,
        )
        for s in shadows
    ]
    calibration = calibrate(reviews, missing)
    assert calibration.routing.recommended is not None
    assert calibration.routing.recommended.threshold == 0  # everything to the frontier model
    mean, quantile = calibration.escalation
    # Escalating every review (each is above 0.2) is the one way within the target.
    assert mean.recommended is not None
    assert mean.recommended.threshold == Decimal("0.2")
    assert mean.recommended.frontier_share == 1
    # No quantile threshold escalates a review whose measure is 0, and none above 0 is measured.
    assert quantile.recommended is None
    assert quantile.why.startswith("no measured threshold keeps the missed share within 10%")
    assert calibration.snippet() == "routing:\n  threshold: 0\nescalation:\n  mean_entropy: 0.2\n"


def test_too_little_data_recommends_nothing_and_says_how_much_is_needed() -> None:
    reviews, shadows = synthetic()
    calibration = calibrate(reviews, shadows[: MIN_SHADOWS - 1])
    assert calibration.problem is not None
    assert calibration.problem.startswith(
        f"too little data: {MIN_SHADOWS - 1} finished shadow reviews with 18 major or critical "
        f"findings; a recommendation needs at least {MIN_SHADOWS} shadow reviews and "
        f"{MIN_FINDINGS} findings"
    )
    assert all(c.recommended is None for c in calibration.curves)
    assert calibration.snippet() is None
    # The curve is still drawn: the figures are there, only the recommendation is withheld.
    assert len(calibration.routing.points) == 21


def test_without_entropies_the_escalation_curves_say_why_they_are_empty() -> None:
    reviews, shadows = synthetic()
    plain = [ShadowSample(s.score, s.local_usd, s.frontier_usd, s.findings) for s in shadows]
    calibration = calibrate(reviews, plain)
    assert all(c.points == () and "no token entropies" in c.why for c in calibration.escalation)
    assert calibration.snippet() == "routing:\n  threshold: 50\n"
