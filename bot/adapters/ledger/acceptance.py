"""How the bot's comments were received: per tier, category and severity, the comments posted
and held back, the 👍 and 👎 they got, the threads resolved, the suggestions committed, and the
acceptance rate, acted on ÷ posted.

Units are comments, so every figure can be set against `posted`: `thumbs_up` counts the
comments with at least one 👍 (not the reactions), and so on. A comment is *acted on* when its
thread was resolved or its suggestion committed, and nobody gave it a 👎 (a thread resolved
after a 👎 was dismissed, not fixed); a 👍 alone is agreement, not action. Held-back comments
(`ledger_comments.held` not NULL: the checking of comments before posting kept them back) are
counted apart, by why, and never as posted.

The span is the reviews': comments of the reviews from `since` up to, not including, `until`,
with all the feedback they got, whenever it came.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.adapters.ledger.report import pct
from bot.adapters.ledger.rows import span
from bot.adapters.ledger.schema import ACTED_ON, TIERS, comments, feedback, reviews
from bot.core.answer_schema import CATEGORIES, Severity


@dataclass(frozen=True, slots=True)
class Received:
    """The comments of one group (a tier, a category, a severity, or all), and how they were
    received (see the module's doc for what each figure counts)."""

    posted: int = 0
    held_back: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    resolved: int = 0
    suggestions_committed: int = 0
    acted_on: int = 0

    @property
    def acceptance_pct(self) -> Decimal | None:
        """Acted on ÷ posted, in percent to 0.1 (half up); None with nothing posted."""
        return pct(Decimal(self.acted_on), Decimal(self.posted)) if self.posted else None

    def __add__(self, other: Received) -> Received:
        return Received(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, Any]:
        """The figures and the rate (an exact decimal string, or None)."""
        rate = self.acceptance_pct
        figures: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        return figures | {"acceptance_pct": None if rate is None else str(rate)}


@dataclass(frozen=True, slots=True)
class Group:
    """The comments of one tier, category and severity."""

    tier: str
    category: str
    severity: str
    received: Received


@dataclass(frozen=True, slots=True)
class Acceptance:
    """How the comments of a span were received, in groups of tier, category and severity;
    `held_by_reason` counts the comments held back by why."""

    groups: tuple[Group, ...] = ()
    held_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> Received:
        return sum((g.received for g in self.groups), Received())

    def by_tier(self) -> dict[str, Received]:
        """Per tier: both tiers always, then any other, in order."""
        return _by(self.groups, lambda g: g.tier, TIERS)

    def by_category(self) -> dict[str, Received]:
        """Per category, in the order of the answer schema's categories, then any other."""
        return _by(self.groups, lambda g: g.category, CATEGORIES, keep=False)

    def by_severity(self) -> dict[str, Received]:
        """Per severity, most severe first."""
        return _by(self.groups, lambda g: g.severity, tuple(s.value for s in Severity), False)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form: the total, per tier, per category, per severity, each group of
        the three, and the comments held back by why."""
        return {
            "total": self.total.as_dict(),
            "by_tier": {k: v.as_dict() for k, v in self.by_tier().items()},
            "by_category": {k: v.as_dict() for k, v in self.by_category().items()},
            "by_severity": {k: v.as_dict() for k, v in self.by_severity().items()},
            "groups": [
                {"tier": g.tier, "category": g.category, "severity": g.severity}
                | g.received.as_dict()
                for g in self.groups
            ],
            "held_back_by_reason": dict(self.held_by_reason),
        }


def tally_acceptance(
    conn: Connection, repo: str | None, since: datetime | None, until: datetime | None
) -> Acceptance:
    """How the comments of `repo`'s (or all) reviews from `since` up to `until` (or ever) were
    received, read in one snapshot on `conn`."""
    c = comments.c
    posted = c.held.is_(None)

    def got(*kinds: str) -> sa.Exists:
        return (
            sa.select(feedback.c.id)
            .where(
                feedback.c.repo == c.repo,
                feedback.c.number == c.number,
                feedback.c.fingerprint == c.fingerprint,
                feedback.c.kind.in_(kinds),
            )
            .exists()
        )

    def count(*when: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((sa.and_(*when), 1), else_=sa.literal(0)))

    keys = (c.tier, c.category, c.severity)
    query = (
        sa.select(
            *keys,
            count(posted),
            count(~posted),
            count(posted, got("thumbs_up")),
            count(posted, got("thumbs_down")),
            count(posted, got("resolved")),
            count(posted, got("suggestion_committed")),
            count(posted, got(*sorted(ACTED_ON)), ~got("thumbs_down")),
        )
        .join_from(comments, reviews)
        .where(*span(reviews, repo, since, until))
        .group_by(*keys)
        .order_by(*keys)
    )
    held = (
        sa.select(c.held, sa.func.count())
        .join_from(comments, reviews)
        .where(~posted, *span(reviews, repo, since, until))
        .group_by(c.held)
        .order_by(c.held)
    )
    groups = tuple(
        Group(tier, category, severity, Received(*(int(n or 0) for n in figures)))
        for tier, category, severity, *figures in conn.execute(query)
    )
    return Acceptance(groups, {str(why): int(n) for why, n in conn.execute(held)})


def _by(
    groups: Iterable[Group], key: Callable[[Group], str], order: tuple[str, ...], keep: bool = True
) -> dict[str, Received]:
    """The groups summed by `key`, in `order` then the others sorted; the names of `order`
    are all kept, with zeros, when `keep`."""
    summed: dict[str, Received] = {name: Received() for name in order} if keep else {}
    for group in groups:
        name = key(group)
        summed[name] = summed.get(name, Received()) + group.received
    ranked = {name: i for i, name in enumerate(order)}
    return dict(sorted(summed.items(), key=lambda item: (ranked.get(item[0], len(order)), item[0])))
