"""The ledger's figures: what each tier did and cost over a span of time, against all-frontier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.ledger.rows import span
from bot.adapters.ledger.schema import (
    POSITIVE_FEEDBACK,
    TIERS,
    comments,
    feedback,
    requests,
    reviews,
)


@dataclass(frozen=True, slots=True)
class Tokens:
    """Tokens by kind, which are billed at different prices."""

    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0


@dataclass(frozen=True, slots=True)
class TierReport:
    """One tier's share of the work: `reviews` that ended on this tier, `requests` (model calls)
    and `attempts` made on it, with their tokens, dollars and GPU time; `escalations` are attempts
    that redid a local attempt's work on this tier; comments posted by severity, and how many of
    them got positive feedback (a 👍, a resolved thread, a committed suggestion) and no 👎."""

    tier: str
    reviews: int = 0
    failed_reviews: int = 0
    requests: int = 0
    attempts: int = 0
    escalations: int = 0
    tokens: Tokens = Tokens()
    usd: Decimal = Decimal(0)
    baseline_usd: Decimal = Decimal(0)
    gpu_seconds: Decimal = Decimal(0)
    comments: Mapping[str, int] = field(default_factory=dict)
    positive_comments: int = 0

    @property
    def positive_share_pct(self) -> Decimal | None:
        """The percentage of this tier's comments with positive feedback; None with no comments."""
        total = sum(self.comments.values())
        return pct(Decimal(self.positive_comments), Decimal(total)) if total else None


@dataclass(frozen=True, slots=True)
class Report:
    """The ledger over a repo (or all) in a span of time (or ever). `spend_usd` and `baseline_usd`
    cover every task, reviews and answers; `estimated_baseline_usd` is the part of the baseline
    estimated from local prompts (no frontier request was made); `unpriced_requests` had no Spend
    and count as $0."""

    repo: str | None
    since: datetime | None
    until: datetime | None
    tiers: tuple[TierReport, ...]
    unpriced_requests: int = 0
    estimated_baseline_usd: Decimal = Decimal(0)

    def tier(self, name: str) -> TierReport:
        """The figures of tier `name` (all zero when it did no work)."""
        return next((t for t in self.tiers if t.tier == name), TierReport(name))

    @property
    def spend_usd(self) -> Decimal:
        return sum((t.usd for t in self.tiers), Decimal(0))

    @property
    def baseline_usd(self) -> Decimal:
        return sum((t.baseline_usd for t in self.tiers), Decimal(0))

    @property
    def saved_pct(self) -> Decimal | None:
        """(baseline - spend) / baseline in percent, to 0.1 (half up); None with no baseline."""
        baseline = self.baseline_usd
        return pct(baseline - self.spend_usd, baseline) if baseline else None

    @property
    def reviews(self) -> int:
        return sum(t.reviews for t in self.tiers)

    @property
    def escalations(self) -> int:
        return sum(t.escalations for t in self.tiers)

    @property
    def gpu_hours(self) -> Decimal:
        return hours(sum((t.gpu_seconds for t in self.tiers), Decimal(0)))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form with the derived figures; every Decimal is its exact string."""
        derived = ("reviews", "escalations", "spend_usd", "baseline_usd", "saved_pct", "gpu_hours")
        figures: dict[str, Any] = {
            **{name: getattr(self, name) for name in ("repo", "since", "until", *derived)},
            "estimated_baseline_usd": self.estimated_baseline_usd,
            "unpriced_requests": self.unpriced_requests,
            "tiers": {
                t.tier: {
                    **asdict(t),
                    "gpu_hours": hours(t.gpu_seconds),
                    "positive_share_pct": t.positive_share_pct,
                }
                for t in self.tiers
            },
        }
        return {name: _plain(value) for name, value in figures.items()}


def tally(
    conn: Connection, repo: str | None, since: datetime | None, until: datetime | None
) -> Report:
    """Reviews, requests, tokens, dollars, GPU time, comments and feedback by tier, for `repo`
    (or all) from `since` up to, not including, `until` (or ever), read in one snapshot on
    `conn`."""
    r, c = requests.c, comments.c
    zero = sa.literal(0)
    request_sums = sa.select(
        r.tier,
        sa.func.count(),
        sa.func.sum(r.parts),
        *(sa.func.sum(col) for col in (r.input_tokens, r.output_tokens)),
        *(sa.func.sum(col) for col in (r.cache_write_tokens, r.cache_read_tokens)),
        sa.func.sum(r.usd),
        sa.func.sum(r.baseline_usd),
        sa.func.sum(r.gpu_seconds),
        sa.func.sum(sa.case((r.escalated, 1), else_=zero)),
        sa.func.sum(sa.case((r.usd.is_(None), 1), else_=zero)),
        sa.func.sum(sa.case((r.baseline_estimated, r.baseline_usd), else_=None)),
    ).where(*span(requests, repo, since, until))
    review_sums = sa.select(
        reviews.c.tier,
        sa.func.count(),
        sa.func.sum(sa.case((reviews.c.outcome == "failed", 1), else_=zero)),
    ).where(*span(reviews, repo, since, until))
    posted = sa.select(c.tier, c.severity, sa.func.count()).join_from(comments, reviews)
    posted = posted.where(*span(reviews, repo, since, until))
    kinds = sa.select(feedback.c.kind).where(
        feedback.c.repo == c.repo,
        feedback.c.number == c.number,
        feedback.c.fingerprint == c.fingerprint,
    )
    liked = posted.where(
        kinds.where(feedback.c.kind.in_(POSITIVE_FEEDBACK)).exists(),
        ~kinds.where(feedback.c.kind == "thumbs_down").exists(),
    )
    by_request = conn.execute(request_sums.group_by(r.tier)).all()
    by_review = {t: (n, f) for t, n, f in conn.execute(review_sums.group_by(reviews.c.tier))}
    by_severity = conn.execute(posted.group_by(c.tier, c.severity)).all()
    by_liked = conn.execute(liked.group_by(c.tier, c.severity)).all()
    tiers: dict[str, dict[str, Any]] = {t: {} for t in TIERS}
    unpriced, estimated = 0, Decimal(0)
    # int(): PostgreSQL sums BIGINT columns as NUMERIC.
    for tier, n, parts, i, o, cw, cr, usd, base, gpu, esc, unp, est in by_request:
        tiers.setdefault(tier, {}).update(
            attempts=n,
            requests=int(parts or 0),
            tokens=Tokens(*(int(tokens or 0) for tokens in (i, o, cw, cr))),
            usd=usd or Decimal(0),
            baseline_usd=base or Decimal(0),
            gpu_seconds=gpu or Decimal(0),
            escalations=int(esc or 0),
        )
        unpriced += int(unp or 0)
        estimated += est or Decimal(0)
    for tier, (n, failed) in by_review.items():
        tiers.setdefault(tier, {}).update(reviews=n, failed_reviews=int(failed or 0))
    for tier, severity, n in by_severity:
        tiers.setdefault(tier, {}).setdefault("comments", {})[severity] = n
    for tier, _, n in by_liked:
        fields = tiers.setdefault(tier, {})
        fields["positive_comments"] = fields.get("positive_comments", 0) + n
    ordered = [*TIERS, *sorted(set(tiers) - set(TIERS))]
    return Report(
        repo=repo,
        since=since,
        until=until,
        tiers=tuple(TierReport(t, **tiers[t]) for t in ordered),
        unpriced_requests=unpriced,
        estimated_baseline_usd=estimated,
    )


def pct(part: Decimal, whole: Decimal) -> Decimal:
    """`part` of `whole` in percent, to 0.1 (half up)."""
    return (part / whole * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def hours(seconds: Decimal) -> Decimal:
    """`seconds` in hours, to the microhour (half up)."""
    return (seconds / 3600).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value
