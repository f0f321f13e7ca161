"""The figures of an offline evaluation: how each labelled change fared, and the totals.

Pure. Each change ends `Scored`: reviewed (its comments matched against the expected findings,
bot.core.findings), not reviewed (a model failed or cannot run: never counted as "no issues"),
or skipped (nothing a model could review). The quality figures count reviewed changes only:

- hit rate: expected findings that a comment hit, of the expected findings;
- precision: comments that hit an expected finding, of every comment posted, clean changes
  included, where every comment is a false positive;
- comments per change; and for clean changes alone, how many got any comment.

They are given for all reviewed changes and for each tier whose review stood (an escalated
review counts as frontier). Tokens and dollars are per tier of every request sent, failed
reviews included, since they were paid for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from bot.core.anchor import Comment
from bot.core.cost import Spend
from bot.core.findings import Expected, Matched
from bot.core.result import Attempt
from bot.core.routing import Tier


class Status(StrEnum):
    """How a labelled change ended."""

    REVIEWED = "reviewed"
    NOT_REVIEWED = "not reviewed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Scored:
    """One labelled change after its review: how it ended and why, the tier (whose review
    stood, or that was decided when it could not run) and model, the decision's reasons, the
    comments posted and how they matched, and every request with what it cost (`checks`: those
    that checked the comments before they were posted)."""

    id: str
    line: int
    status: Status
    expected: tuple[Expected, ...]
    why: str = ""
    tier: Tier | None = None
    model: str = ""
    reasons: tuple[str, ...] = ()
    escalation: tuple[str, ...] = ()
    comments: tuple[Comment, ...] = ()
    matched: Matched | None = None
    attempts: tuple[Attempt, ...] = ()
    spend: Spend | None = None
    checks: tuple[Attempt, ...] = ()

    @property
    def clean(self) -> bool:
        """No finding was expected on the change."""
        return not self.expected


def rate(part: int, whole: int) -> float | None:
    """`part / whole` to four places; None when there is no whole."""
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True, slots=True)
class Quality:
    """What the reviews of some changes found, against what was expected of them."""

    changes: int = 0
    expected: int = 0
    found: int = 0
    comments: int = 0
    true_positives: int = 0
    clean_changes: int = 0
    clean_with_comments: int = 0
    clean_comments: int = 0

    @property
    def hit_rate(self) -> float | None:
        """Expected findings a comment hit, of those expected (None: none expected)."""
        return rate(self.found, self.expected)

    @property
    def precision(self) -> float | None:
        """Comments that hit an expected finding, of all posted (None: none posted)."""
        return rate(self.true_positives, self.comments)

    @property
    def comments_per_change(self) -> float | None:
        return rate(self.comments, self.changes)

    @property
    def false_positives(self) -> int:
        return self.comments - self.true_positives


def quality(scored: Iterable[Scored]) -> Quality:
    """The quality figures of the reviewed changes among `scored`."""
    changes = expected = found = comments = true_positives = 0
    clean = clean_with = clean_comments = 0
    for item in scored:
        matched = item.matched
        if item.status is not Status.REVIEWED or matched is None:
            continue
        changes += 1
        expected += len(item.expected)
        found += sum(matched.found)
        comments += matched.comments
        true_positives += matched.true_positives
        if item.clean:
            clean += 1
            clean_with += matched.comments > 0
            clean_comments += matched.comments
    return Quality(
        changes, expected, found, comments, true_positives, clean, clean_with, clean_comments
    )


@dataclass(frozen=True, slots=True)
class TierUse:
    """The review attempts on one tier, its model requests (one per part of a review, and those
    that checked comments before they were posted), and what they cost."""

    attempts: int = 0
    parts: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    gpu_seconds: float = 0.0
    usd: Decimal = Decimal(0)


def tier_use(scored: Sequence[Scored], tier: Tier) -> TierUse:
    """Every request to `tier` over `scored`, with its tokens and dollars."""
    attempts = [a for item in scored for a in item.attempts if a.tier is tier]
    sent = attempts + [a for item in scored for a in item.checks if a.tier is tier]
    spends = [item.spend for item in scored if item.spend is not None]
    usd = sum(
        (
            s.frontier_usd + s.verify_frontier_usd
            if tier is Tier.FRONTIER
            else s.local_usd + s.verify_local_usd
            for s in spends
        ),
        Decimal(0),
    )
    return TierUse(
        attempts=len(attempts),
        parts=sum(a.parts for a in sent),
        input_tokens=sum(a.usage.input_tokens for a in sent),
        output_tokens=sum(a.usage.output_tokens for a in sent),
        cache_write_tokens=sum(a.usage.cache_write_tokens for a in sent),
        cache_read_tokens=sum(a.usage.cache_read_tokens for a in sent),
        gpu_seconds=sum(a.gpu_seconds for a in sent),
        usd=usd,
    )


@dataclass(frozen=True, slots=True)
class Totals:
    """The run as a whole: changes by status, escalations, spend against the all-frontier
    baseline, and quality overall and per tier."""

    changes: int
    reviewed: int
    not_reviewed: int
    skipped: int
    escalated: int
    spent_usd: Decimal
    baseline_usd: Decimal
    overall: Quality
    by_tier: dict[Tier, Quality]
    use: dict[Tier, TierUse]
    by_severity: dict[str, tuple[int, int]]


def totals(scored: Sequence[Scored]) -> Totals:
    """Add up a run's changes."""

    def counted(status: Status) -> int:
        return sum(1 for item in scored if item.status is status)

    spends = [item.spend for item in scored if item.spend is not None]
    return Totals(
        changes=len(scored),
        reviewed=counted(Status.REVIEWED),
        not_reviewed=counted(Status.NOT_REVIEWED),
        skipped=counted(Status.SKIPPED),
        escalated=sum(1 for item in scored if item.escalation and len(item.attempts) > 1),
        spent_usd=sum((s.spent_usd for s in spends), Decimal(0)),
        baseline_usd=sum((s.baseline_usd for s in spends), Decimal(0)),
        overall=quality(scored),
        by_tier={tier: quality(i for i in scored if i.tier is tier) for tier in Tier},
        use={tier: tier_use(scored, tier) for tier in Tier},
        by_severity=_by_severity(scored),
    )


def _by_severity(scored: Iterable[Scored]) -> dict[str, tuple[int, int]]:
    """Per severity the dataset gives (`unrated` where it gives none): expected findings on
    reviewed changes, and how many of them a comment hit."""
    out: dict[str, tuple[int, int]] = {}
    for item in scored:
        if item.status is not Status.REVIEWED or item.matched is None:
            continue
        for finding, found in zip(item.expected, item.matched.found, strict=True):
            key = finding.severity or "unrated"
            expected, hit = out.get(key, (0, 0))
            out[key] = (expected + 1, hit + found)
    return out
