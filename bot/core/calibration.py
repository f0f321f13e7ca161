"""Calibration from a team's own data: what each routing or escalation threshold would cost and
how many major or critical findings the local model would miss under it.

Pure: the ledger's samples in (bot.adapters.ledger), curves and recommendations out.

The measure is the shadow reviews (bot.core.shadow): changes the local model reviewed that the
frontier model reviewed too, their findings matched (bot.core.matching). A finding counts when
it is major or critical, and, where people gave feedback on the local model's comment on it:
a finding both models made does not count when that comment got a 👎 and nothing positive; one
only the local model made counts only when its comment got a 👍, a resolved thread or a
committed suggestion and no 👎 (the frontier model missed something real). Every counted finding
only the frontier model made is one the local model missed. The miss share at a threshold is
the missed findings on the shadowed changes the local model would still review, over every
counted finding on the shadowed changes, with its Wilson interval (bot.core.interval).

The routing threshold: a change scored at or above it goes to the frontier model. Its frontier
share and cost are over every review in the ledger: a change costs its all-frontier baseline
when it goes frontier, and when it goes local, what it cost if it went local (escalations
included), else its baseline times what local work cost against its baseline overall. The
escalation thresholds (`escalation.mean_entropy`, `escalation.quantile_entropy`): a shadowed
review whose local confidence measure is above the threshold would have been redone by the
frontier model, at what its shadow cost, and missed nothing.

A threshold is measured only where the shadowed changes reach: not for a routing threshold with
reviews scored above every shadowed change below it, nor for an escalation threshold above every
measure seen (the reviews above today's thresholds were escalated, not shadowed). The
recommendation is the cheapest measured threshold whose interval's upper bound is within the
target miss share, with at least MIN_SHADOWS shadow reviews and MIN_FINDINGS findings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.core.answer_schema import Severity
from bot.core.interval import CONFIDENCE, Interval, wilson
from bot.core.matching import FoundBy

MIN_SHADOWS = 10
MIN_FINDINGS = 20
DEFAULT_TARGET = Decimal("0.1")
ROUTING_THRESHOLDS = tuple(range(0, 101, 5))
MEAN_ENTROPY_THRESHOLDS = tuple(Decimal(n) / 10 for n in range(21))
QUANTILE_ENTROPY_THRESHOLDS = tuple(Decimal(n) / 4 for n in range(21))
_SERIOUS = frozenset({Severity.CRITICAL, Severity.MAJOR})
_NEVER = Decimal("Infinity")


@dataclass(frozen=True, slots=True)
class Observed:
    """One finding of a shadow review as the ledger holds it, with the feedback people gave on
    the local model's comment on it (`liked`: a 👍, a resolved thread or a committed suggestion;
    `disliked`: a 👎)."""

    found_by: FoundBy
    severity: Severity
    liked: bool = False
    disliked: bool = False

    @property
    def counted(self) -> bool:
        """Whether the finding counts (module docstring)."""
        if self.severity not in _SERIOUS:
            return False
        if self.found_by is FoundBy.BOTH:
            return self.liked or not self.disliked
        if self.found_by is FoundBy.LOCAL:
            return self.liked and not self.disliked
        return True


@dataclass(frozen=True, slots=True)
class ShadowSample:
    """A finished shadow review: the score of the change, what the local review cost and what
    the shadow cost, the findings, and the local model's confidence measures (None: none)."""

    score: int
    local_usd: Decimal
    frontier_usd: Decimal
    findings: tuple[Observed, ...]
    mean_entropy: float | None = None
    quantile_entropy: float | None = None

    @property
    def found(self) -> int:
        """The findings that count."""
        return sum(1 for f in self.findings if f.counted)

    @property
    def missed(self) -> int:
        """The findings that count and only the frontier model made."""
        return sum(1 for f in self.findings if f.counted and f.found_by is FoundBy.FRONTIER)


@dataclass(frozen=True, slots=True)
class ReviewSample:
    """A review in the ledger: its score, whether routing sent it to the local model (`local`,
    escalated or not), what it cost and its all-frontier baseline."""

    score: int
    local: bool
    spent_usd: Decimal
    baseline_usd: Decimal


@dataclass(frozen=True, slots=True)
class Point:
    """One threshold on a curve: the share of the work that goes to the frontier model (None:
    no work to share), what the work would cost (None: not known), the missed share with its
    interval, whether the shadows measure it, and whether it meets the target."""

    threshold: Decimal
    frontier_share: Decimal | None
    cost_usd: Decimal | None
    missed: Interval
    measured: bool
    meets: bool


@dataclass(frozen=True, slots=True)
class Curve:
    """One setting's thresholds, the one recommended (None: none), and why."""

    setting: str
    points: tuple[Point, ...]
    recommended: Point | None
    why: str


@dataclass(frozen=True, slots=True)
class Calibration:
    """The curves of the routing threshold and the escalation thresholds, on `shadows` finished
    shadow reviews with `findings` counted findings and `reviews` reviews; `problem` says why
    nothing is recommended when the data is too little."""

    target: Decimal
    reviews: int
    shadows: int
    findings: int
    routing: Curve
    escalation: tuple[Curve, ...]
    problem: str | None

    @property
    def curves(self) -> tuple[Curve, ...]:
        return (self.routing, *self.escalation)

    def snippet(self) -> str | None:
        """The settings (YAML for .github/tierbot.yml) that apply the recommendations; None
        when there is none."""
        chosen = {c.setting: c.recommended.threshold for c in self.curves if c.recommended}
        if not chosen:
            return None
        lines: list[str] = []
        for section in ("routing", "escalation"):
            keys = [(k.split(".")[1], v) for k, v in chosen.items() if k.startswith(section)]
            if keys:
                lines += [f"{section}:", *(f"  {key}: {value}" for key, value in keys)]
        return "\n".join(lines) + "\n"


def calibrate(
    reviews: Sequence[ReviewSample],
    shadows: Sequence[ShadowSample],
    target: Decimal = DEFAULT_TARGET,
) -> Calibration:
    """Every curve and its recommendation (module docstring)."""
    found = sum(s.found for s in shadows)
    problem = None
    if len(shadows) < MIN_SHADOWS or found < MIN_FINDINGS:
        problem = (
            f"too little data: {len(shadows)} finished shadow reviews with {found} major or "
            f"critical findings; a recommendation needs at least {MIN_SHADOWS} shadow reviews "
            f"and {MIN_FINDINGS} findings (raise `shadow.share` to get there sooner)"
        )
    routing = _routing(reviews, shadows, target, problem)
    escalation = tuple(
        _escalation(setting, grid, measure, shadows, target, problem)
        for setting, grid, measure in (
            ("escalation.mean_entropy", MEAN_ENTROPY_THRESHOLDS, _mean),
            ("escalation.quantile_entropy", QUANTILE_ENTROPY_THRESHOLDS, _quantile),
        )
    )
    return Calibration(target, len(reviews), len(shadows), found, routing, escalation, problem)


def _routing(
    reviews: Sequence[ReviewSample],
    shadows: Sequence[ShadowSample],
    target: Decimal,
    problem: str | None,
) -> Curve:
    found = sum(s.found for s in shadows)
    ratio = _local_ratio(reviews)
    reach = max((s.score for s in shadows), default=-1)
    scores = [r.score for r in reviews] + [s.score for s in shadows]
    points = []
    for threshold in ROUTING_THRESHOLDS:
        none_local = all(score >= threshold for score in scores)
        measured = none_local or not any(reach < score < threshold for score in scores)
        missed = sum(s.missed for s in shadows if s.score < threshold)
        interval = wilson(missed, found) if not none_local else Interval(0, found, 0.0, 0.0)
        frontier = [r for r in reviews if r.score >= threshold]
        share = Decimal(len(frontier)) / len(reviews) if reviews else None
        cost = _routing_cost(reviews, threshold, ratio)
        meets = measured and (none_local or interval.high <= float(target))
        points.append(Point(Decimal(threshold), share, cost, interval, measured, meets))
    return _recommend("routing.threshold", points, problem, target)


def _routing_cost(
    reviews: Sequence[ReviewSample], threshold: int, ratio: Decimal | None
) -> Decimal | None:
    total = Decimal(0)
    for review in reviews:
        if review.score >= threshold:
            total += review.baseline_usd
        elif review.local:
            total += review.spent_usd
        elif ratio is None:
            return None
        else:
            total += review.baseline_usd * ratio
    return total


def _local_ratio(reviews: Sequence[ReviewSample]) -> Decimal | None:
    """What local work cost against its all-frontier baseline, over every local review."""
    local = [r for r in reviews if r.local]
    baseline = sum((r.baseline_usd for r in local), Decimal(0))
    return sum((r.spent_usd for r in local), Decimal(0)) / baseline if baseline else None


def _mean(sample: ShadowSample) -> float | None:
    return sample.mean_entropy


def _quantile(sample: ShadowSample) -> float | None:
    return sample.quantile_entropy


def _escalation(
    setting: str,
    grid: Sequence[Decimal],
    measure: Callable[[ShadowSample], float | None],
    shadows: Sequence[ShadowSample],
    target: Decimal,
    problem: str | None,
) -> Curve:
    measured_by = [(s, value) for s in shadows if (value := measure(s)) is not None]
    if not measured_by:
        why = "no shadowed review has this measure (the local model gave no token entropies)"
        return Curve(setting, (), None, why)
    found = sum(s.found for s, _ in measured_by)
    reach = max(value for _, value in measured_by)
    points = []
    for threshold in grid:
        limit = float(threshold)
        escalated = [s for s, value in measured_by if value > limit]
        missed = sum(s.missed for s, value in measured_by if value <= limit)
        none_stand = len(escalated) == len(measured_by)
        interval = wilson(missed, found) if not none_stand else Interval(0, found, 0.0, 0.0)
        cost = sum((s.local_usd for s, _ in measured_by), Decimal(0)) + sum(
            (s.frontier_usd for s in escalated), Decimal(0)
        )
        share = Decimal(len(escalated)) / len(measured_by)
        measured = limit <= reach
        meets = measured and interval.high <= float(target)
        points.append(Point(threshold, share, cost, interval, measured, meets))
    return _recommend(setting, points, problem, target)


def _recommend(
    setting: str, points: Sequence[Point], problem: str | None, target: Decimal
) -> Curve:
    if problem is not None:
        return Curve(setting, tuple(points), None, problem)
    meeting = [p for p in points if p.meets]
    if not meeting:
        why = (
            f"no measured threshold keeps the missed share within {target:%} at "
            f"{CONFIDENCE:.0%} confidence"
        )
        return Curve(setting, tuple(points), None, why)
    best = min(
        meeting,
        key=lambda p: (
            p.cost_usd if p.cost_usd is not None else _NEVER,
            p.frontier_share if p.frontier_share is not None else Decimal(1),
            -p.threshold,
        ),
    )
    why = (
        f"the cheapest measured threshold whose missed share is within {target:%} at "
        f"{CONFIDENCE:.0%} confidence"
    )
    return Curve(setting, tuple(points), best, why)
