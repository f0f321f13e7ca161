"""The ledger's figures: what each tier did and cost over a span of time, against all-frontier,
and the local tier's economics: its GPU time priced at the operator's GPU settings, the
utilisation at which it breaks even, and the throughput the worker achieved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
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
from bot.core.cost import DEFAULT_GPU_COST, DEFAULT_THROUGHPUT, Throughput
from bot.core.economics import (
    Fitted,
    GpuCost,
    LocalEconomics,
    fit_throughput,
    percent,
    utilisation_words,
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
    them got positive feedback (a 👍, a resolved thread, a committed suggestion) and no 👎;
    comments held back by reason (bot.core.selection.HeldReason); and the requests that checked
    comments before they were posted (`verify_requests`, `verify_usd`), which `requests` and
    `usd` include."""

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
    held: Mapping[str, int] = field(default_factory=dict)
    verify_requests: int = 0
    verify_usd: Decimal = Decimal(0)

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
    first_at: datetime | None = None
    read_at: datetime | None = None
    throughput: Fitted | None = None

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
    def verify_usd(self) -> Decimal:
        """What checking comments before posting cost, all tiers (part of `spend_usd`)."""
        return sum((t.verify_usd for t in self.tiers), Decimal(0))

    @property
    def escalations(self) -> int:
        return sum(t.escalations for t in self.tiers)

    @property
    def gpu_hours(self) -> Decimal:
        return hours(sum((t.gpu_seconds for t in self.tiers), Decimal(0)))

    @property
    def span_hours(self) -> Decimal | None:
        """The hours the report covers: from `since` (else the first request) to `until` (else
        when it was read); None with neither a start nor a request."""
        start, end = self.since or self.first_at, self.until or self.read_at
        if start is None or end is None or end <= start:
            return None
        return Decimal((end - start).total_seconds()) / 3600

    def economics(self, gpu: GpuCost = DEFAULT_GPU_COST) -> LocalEconomics:
        """The local tier's work priced at `gpu`: its GPU time (escalated work included)
        against what the frontier model would have charged for the work that stood on it."""
        local = self.tier("local")
        return LocalEconomics(gpu, local.gpu_seconds, local.baseline_usd, self.span_hours)

    def economics_dict(
        self, gpu: GpuCost = DEFAULT_GPU_COST, assumed: Throughput = DEFAULT_THROUGHPUT
    ) -> dict[str, Any]:
        """The local tier's economics at `gpu`, and the throughput measured against `assumed`
        (the estimates' figures), JSON-ready."""
        figures = self.economics(gpu)
        break_even, busy = figures.break_even, figures.span_utilisation
        fitted = self.throughput
        economics: dict[str, Any] = {
            "gpu": {
                "billing": gpu.billing.value,
                "hour_usd": gpu.hour_usd,
                "marginal_hour_usd": gpu.marginal_hour_usd,
                "utilisation_pct": percent(gpu.utilisation),
                "busy_hour_usd": _places(gpu.busy_hour_usd, 6),
            },
            "local_gpu_hours": hours(figures.gpu_seconds),
            "local_usd": _places(figures.usd, 9),
            "local_baseline_usd": figures.baseline_usd,
            "break_even_utilisation_pct": None if break_even is None else percent(break_even),
            "break_even": utilisation_words(break_even) if figures.gpu_seconds else None,
            "span_hours": None if figures.span_hours is None else _places(figures.span_hours, 2),
            "span_utilisation_pct": None if busy is None else _places(busy * 100, 3),
            "throughput": None
            if fitted is None
            else {
                "prefill_tokens_per_second": _places(fitted.prefill_tokens_per_second, 1),
                "decode_tokens_per_second": _places(fitted.decode_tokens_per_second, 1),
                "requests": fitted.requests,
            },
            "throughput_assumed": {
                "prefill_tokens_per_second": assumed.prefill_tokens_per_second,
                "decode_tokens_per_second": assumed.decode_tokens_per_second,
            },
        }
        return {name: _plain(value) for name, value in economics.items()}

    def as_dict(
        self, gpu: GpuCost = DEFAULT_GPU_COST, assumed: Throughput = DEFAULT_THROUGHPUT
    ) -> dict[str, Any]:
        """A JSON-ready form with the derived figures and the local tier's `economics` at `gpu`;
        every Decimal is its exact string."""
        derived = (
            "reviews",
            "escalations",
            "spend_usd",
            "baseline_usd",
            "saved_pct",
            "gpu_hours",
            "verify_usd",
        )
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
        plain = {name: _plain(value) for name, value in figures.items()}
        return plain | {"economics": self.economics_dict(gpu, assumed)}


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
    listed = sa.select(c.tier, c.severity, sa.func.count()).join_from(comments, reviews)
    listed = listed.where(*span(reviews, repo, since, until))
    posted = listed.where(c.held.is_(None))
    held = sa.select(c.tier, c.held, sa.func.count()).join_from(comments, reviews)
    held = held.where(*span(reviews, repo, since, until), c.held.is_not(None))
    verify_sums = sa.select(r.tier, sa.func.sum(r.parts), sa.func.sum(r.usd)).where(
        *span(requests, repo, since, until), r.task == "verify"
    )
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
    first_at = conn.scalar(sa.select(sa.func.min(r.at)).where(*span(requests, repo, since, until)))
    measured = conn.execute(
        sa.select(r.input_tokens, r.output_tokens, r.gpu_seconds).where(
            *span(requests, repo, since, until), r.tier == "local", r.error.is_(None)
        )
    )
    fitted = fit_throughput(
        (int(i), int(o), seconds) for i, o, seconds in measured if seconds and (i or o)
    )
    by_held = conn.execute(held.group_by(c.tier, c.held)).all()
    by_verify = conn.execute(verify_sums.group_by(r.tier)).all()
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
    for tier, reason, n in by_held:
        tiers.setdefault(tier, {}).setdefault("held", {})[reason] = n
    for tier, parts, usd in by_verify:
        tiers.setdefault(tier, {}).update(
            verify_requests=int(parts or 0), verify_usd=usd or Decimal(0)
        )
    ordered = [*TIERS, *sorted(set(tiers) - set(TIERS))]
    return Report(
        repo=repo,
        since=since,
        until=until,
        tiers=tuple(TierReport(t, **tiers[t]) for t in ordered),
        unpriced_requests=unpriced,
        estimated_baseline_usd=estimated,
        first_at=first_at,
        read_at=datetime.now(UTC),
        throughput=fitted,
    )


def pct(part: Decimal, whole: Decimal) -> Decimal:
    """`part` of `whole` in percent, to 0.1 (half up)."""
    return (part / whole * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def hours(seconds: Decimal) -> Decimal:
    """`seconds` in hours, to the microhour (half up)."""
    return (seconds / 3600).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _places(value: Decimal, places: int) -> Decimal:
    """`value` to `places` decimal places, half up, for a figure that division ran on."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value
