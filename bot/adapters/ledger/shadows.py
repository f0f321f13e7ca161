"""The ledger's shadow reviews (bot.core.shadow): what one writes, and what calibration and the
report read back.

A shadow review is one `ledger_shadows` row beside the review it shadows, one
`ledger_shadow_findings` row per finding, and its frontier request as a `ledger_requests` row of
task `shadow` whose baseline is 0: the month's spend and `tierbot report` count what it cost,
and the all-frontier baseline does not grow by it (an all-frontier review would not have made
it). `read_trade_off` reads, in one snapshot, the samples `tierbot calibrate` works on
(bot.core.calibration), the shadow reviews' totals and the spend by day.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.ledger.rows import request_rows, span
from bot.adapters.ledger.schema import (
    POSITIVE_FEEDBACK,
    feedback,
    requests,
    reviews,
    shadow_findings,
    shadows,
)
from bot.core.answer_schema import Severity
from bot.core.calibration import Observed, ReviewSample, ShadowSample
from bot.core.cost import Spend
from bot.core.matching import Finding, FoundBy
from bot.core.secrets.redaction import scrub
from bot.core.shadow import Shadow, ShadowState


@dataclass(frozen=True, slots=True)
class DaySpend:
    """One UTC day's spend on every task, shadow reviews included, and its all-frontier
    baseline."""

    day: date
    spent_usd: Decimal
    baseline_usd: Decimal


@dataclass(frozen=True, slots=True)
class TradeOff:
    """What the ledger says about the trade-off, over a repo (or all) and a span of time: the
    reviews and finished shadow reviews calibration samples, the shadow reviews by state and what
    they all cost, the finished ones' findings by who found them and severity, and the spend by
    day."""

    reviews: tuple[ReviewSample, ...]
    shadows: tuple[ShadowSample, ...]
    shadow_states: dict[str, int]
    shadow_usd: Decimal
    shadow_findings: dict[str, dict[str, int]]
    days: tuple[DaySpend, ...]


def insert_shadow(
    conn: Connection, review_id: int, where: dict[str, Any], shadow: Shadow, spend: Spend
) -> int:
    """Write a shadow review of the review `review_id` (module docstring); its id."""
    request_id = None
    if shadow.frontier is not None:
        (row,) = request_rows("shadow", [shadow.frontier], spend, None)
        insert = requests.insert().values({**where, **row, "review_id": review_id})
        request_id = conn.execute(insert.returning(requests.c.id)).scalar_one()
    verdict = shadow.local.verdict
    values = {
        **where,
        "review_id": review_id,
        "request_id": request_id,
        "state": shadow.state.value,
        "failure": scrub(shadow.failure) if shadow.failure else None,
        "model": shadow.model,
        "local_mean_entropy": verdict.mean_entropy if verdict else None,
        "local_quantile_entropy": verdict.quantile_entropy if verdict else None,
        "local_hedges": verdict.hedges if verdict else None,
    }
    shadow_id: int = conn.execute(
        shadows.insert().values(values).returning(shadows.c.id)
    ).scalar_one()
    found = [_finding_row(f, shadow_id) for f in shadow.matched.findings]
    if found:
        conn.execute(shadow_findings.insert(), found)
    return shadow_id


def read_trade_off(
    conn: Connection, repo: str | None, since: datetime | None, until: datetime | None
) -> TradeOff:
    """The trade-off's figures (module docstring), for `repo` (or all) from `since` up to, not
    including, `until` (or ever)."""
    states: Counter[str] = Counter()
    shadow_usd = Decimal(0)
    query = (
        sa.select(shadows.c.state, sa.func.count(), sa.func.sum(requests.c.usd))
        .join_from(shadows, requests, shadows.c.request_id == requests.c.id, isouter=True)
        .where(*span(shadows, repo, since, until))
        .group_by(shadows.c.state)
    )
    for state, count, usd in conn.execute(query):
        states[state] += count
        shadow_usd += usd or Decimal(0)
    samples = _shadow_samples(conn, repo, since, until)
    counts: dict[str, dict[str, int]] = {found.value: {} for found in FoundBy}
    for sample in samples:
        for observed in sample.findings:
            bucket = counts[observed.found_by.value]
            bucket[observed.severity.value] = bucket.get(observed.severity.value, 0) + 1
    return TradeOff(
        reviews=_review_samples(conn, repo, since, until),
        shadows=samples,
        shadow_states=dict(states),
        shadow_usd=shadow_usd,
        shadow_findings=counts,
        days=_days(conn, repo, since, until),
    )


def _finding_row(finding: Finding, shadow_id: int) -> dict[str, Any]:
    comment, local, frontier = finding.comment, finding.local, finding.frontier
    return {
        "shadow_id": shadow_id,
        "found_by": finding.found_by.value,
        "path": scrub(comment.path),
        "line": comment.line,
        "side": str(comment.side),
        "severity": finding.severity.value,
        "category": comment.category,
        "local_severity": local.severity.value if local else None,
        "frontier_severity": frontier.severity.value if frontier else None,
        "local_fingerprint": local.fingerprint if local else None,
        "frontier_fingerprint": frontier.fingerprint if frontier else None,
    }


def _review_samples(
    conn: Connection, repo: str | None, since: datetime | None, until: datetime | None
) -> tuple[ReviewSample, ...]:
    """The priced reviews that were done: their score, routing, spend and baseline."""
    r = reviews.c
    query = sa.select(r.score, r.tier, r.escalated, r.spent_usd, r.baseline_usd).where(
        r.task == "review",
        r.outcome == "reviewed",
        r.spent_usd.is_not(None),
        r.baseline_usd.is_not(None),
        *span(reviews, repo, since, until),
    )
    return tuple(
        ReviewSample(int(score), tier == "local" or bool(escalated), spent, baseline)
        for score, tier, escalated, spent, baseline in conn.execute(query.order_by(r.id))
    )


def _shadow_samples(
    conn: Connection, repo: str | None, since: datetime | None, until: datetime | None
) -> tuple[ShadowSample, ...]:
    """The finished shadow reviews with their findings and the feedback on the local comments."""
    s, f = shadows.c, shadow_findings.c
    query = (
        sa.select(
            s.id,
            reviews.c.score,
            reviews.c.spent_usd,
            requests.c.usd,
            s.local_mean_entropy,
            s.local_quantile_entropy,
        )
        .join_from(shadows, reviews, s.review_id == reviews.c.id)
        .join(requests, s.request_id == requests.c.id, isouter=True)
        .where(s.state == ShadowState.DONE.value, *span(shadows, repo, since, until))
        .order_by(s.id)
    )
    found = conn.execute(query).all()
    kinds = sa.select(feedback.c.kind).where(
        feedback.c.repo == s.repo,
        feedback.c.number == s.number,
        feedback.c.fingerprint == f.local_fingerprint,
    )
    findings = (
        sa.select(
            f.shadow_id,
            f.found_by,
            f.severity,
            kinds.where(feedback.c.kind.in_(POSITIVE_FEEDBACK)).exists().label("liked"),
            kinds.where(feedback.c.kind == "thumbs_down").exists().label("disliked"),
        )
        .join_from(shadow_findings, shadows, f.shadow_id == s.id)
        .where(s.state == ShadowState.DONE.value, *span(shadows, repo, since, until))
        .order_by(f.id)
    )
    observed: dict[int, list[Observed]] = {}
    for shadow_id, found_by, severity, liked, disliked in conn.execute(findings):
        observed.setdefault(shadow_id, []).append(
            Observed(FoundBy(found_by), Severity(severity), bool(liked), bool(disliked))
        )
    return tuple(
        ShadowSample(
            score=int(score),
            local_usd=local_usd or Decimal(0),
            frontier_usd=frontier_usd or Decimal(0),
            findings=tuple(observed.get(shadow_id, ())),
            mean_entropy=mean,
            quantile_entropy=quantile,
        )
        for shadow_id, score, local_usd, frontier_usd, mean, quantile in found
    )


def _days(
    conn: Connection, repo: str | None, since: datetime | None, until: datetime | None
) -> tuple[DaySpend, ...]:
    """Spend and baseline of every task by UTC day, in order."""
    r = requests.c
    query = sa.select(r.at, r.usd, r.baseline_usd).where(*span(requests, repo, since, until))
    spent: dict[date, Decimal] = {}
    baseline: dict[date, Decimal] = {}
    for at, usd, base in conn.execute(query):
        day = at.date()
        spent[day] = spent.get(day, Decimal(0)) + (usd or Decimal(0))
        baseline[day] = baseline.get(day, Decimal(0)) + (base or Decimal(0))
    return tuple(DaySpend(day, spent[day], baseline[day]) for day in sorted(spent))
