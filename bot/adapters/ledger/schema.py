"""The ledger's tables, as the code reads them, and the column types that keep money exact.

`migrations/` creates the tables; a test checks that the two agree. Amounts are exact decimals
(NUMERIC on PostgreSQL, an integer count of nano-dollars on SQLite) and times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

VERSION_TABLE = "ledger_alembic_version"
FEEDBACK_KINDS = frozenset({"thumbs_up", "thumbs_down", "resolved", "suggestion_committed"})
POSITIVE_FEEDBACK = frozenset({"thumbs_up", "resolved", "suggestion_committed"})
ACTED_ON = frozenset({"resolved", "suggestion_committed"})
"""Feedback that says a comment was acted on: its thread resolved, or its suggestion committed."""
TIERS = ("local", "frontier")


class _Exact(sa.types.TypeDecorator[Decimal]):
    """An exact decimal of `scale` places: NUMERIC(18, scale) on PostgreSQL, an integer count of
    10**-scale units on SQLite. A float is read by its repr (0.1 is 0.1)."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, scale: int) -> None:
        super().__init__(18, scale, asdecimal=True)
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(18, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        exact = to_exact(value, self.scale)
        return int(exact.scaleb(self.scale)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value)


class _UTC(sa.types.TypeDecorator[datetime]):
    """A point in time, stored in UTC; a naive datetime is refused rather than guessed at."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"ledger times must be timezone-aware, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if not isinstance(value, datetime):
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_exact(value: object, scale: int) -> Decimal:
    """`value` as a Decimal of `scale` places, rounded half-even; a float is read by its repr."""
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_EVEN)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def _where() -> list[sa.Column[Any]]:
    return [
        sa.Column("at", _UTC(), nullable=False),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
    ]


METADATA = sa.MetaData()
"""The ledger's tables as the code reads them; `migrations/` creates them."""
reviews = sa.Table(
    "ledger_reviews",
    METADATA,
    _id(),
    *_where(),
    sa.Column("head_sha", sa.String(64), nullable=False),
    sa.Column("triggered_by", sa.String(50), nullable=False),
    sa.Column("task", sa.String(20), nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("score", sa.Integer(), nullable=False),
    sa.Column("reasons", sa.JSON(), nullable=False),
    sa.Column("coverage", sa.JSON(), nullable=False),
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("failure", sa.Text()),
    sa.Column("escalated", sa.Boolean(), nullable=False),
    sa.Column("escalation", sa.JSON(), nullable=False),
    sa.Column("comments_posted", sa.Integer(), nullable=False),
    sa.Column("spent_usd", _Exact(9)),
    sa.Column("baseline_usd", _Exact(9)),
    sa.Column("baseline_estimated", sa.Boolean()),
)
requests = sa.Table(
    "ledger_requests",
    METADATA,
    _id(),
    sa.Column("review_id", sa.ForeignKey("ledger_reviews.id", ondelete="CASCADE")),
    *_where(),
    sa.Column("task", sa.String(20), nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("parts", sa.Integer(), nullable=False),
    sa.Column("input_tokens", sa.BigInteger(), nullable=False),
    sa.Column("output_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
    sa.Column("usd", _Exact(9)),
    sa.Column("baseline_usd", _Exact(9)),
    sa.Column("baseline_estimated", sa.Boolean()),
    sa.Column("gpu_seconds", _Exact(6), nullable=False),
    sa.Column("wall_seconds", _Exact(6), nullable=False),
    sa.Column("escalated", sa.Boolean(), nullable=False),
    sa.Column("error", sa.Text()),
)
comments = sa.Table(
    "ledger_comments",
    METADATA,
    _id(),
    sa.Column("review_id", sa.ForeignKey("ledger_reviews.id", ondelete="CASCADE"), nullable=False),
    sa.Column("repo", sa.String(200), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("line", sa.Integer(), nullable=False),
    sa.Column("side", sa.String(5), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("category", sa.String(100), nullable=False),
    sa.Column("tier", sa.String(20), nullable=False),
    # NULL: posted; else why it was held back (bot.core.selection.HeldReason).
    sa.Column("held", sa.String(20)),
)
feedback = sa.Table(
    "ledger_feedback",
    METADATA,
    _id(),
    sa.Column("at", _UTC(), nullable=False),
    sa.Column("repo", sa.String(200), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(30), nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
)
charges = sa.Table(
    "ledger_charges",
    METADATA,
    _id(),
    *_where(),
    sa.Column("usd", _Exact(9), nullable=False),
    sa.Column("settled", sa.Boolean(), nullable=False),
)
shadows = sa.Table(
    "ledger_shadows",
    METADATA,
    _id(),
    *_where(),
    sa.Column("review_id", sa.ForeignKey("ledger_reviews.id", ondelete="CASCADE"), nullable=False),
    sa.Column("request_id", sa.ForeignKey("ledger_requests.id", ondelete="SET NULL")),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("failure", sa.Text()),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("local_mean_entropy", sa.Float()),
    sa.Column("local_quantile_entropy", sa.Float()),
    sa.Column("local_hedges", sa.Integer()),
)
shadow_findings = sa.Table(
    "ledger_shadow_findings",
    METADATA,
    _id(),
    sa.Column("shadow_id", sa.ForeignKey("ledger_shadows.id", ondelete="CASCADE"), nullable=False),
    sa.Column("found_by", sa.String(10), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("line", sa.Integer(), nullable=False),
    sa.Column("side", sa.String(5), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),
    sa.Column("category", sa.String(100), nullable=False),
    sa.Column("local_severity", sa.String(10)),
    sa.Column("frontier_severity", sa.String(10)),
    sa.Column("local_fingerprint", sa.String(64)),
    sa.Column("frontier_fingerprint", sa.String(64)),
)
FEEDBACK_KEY = ("repo", "number", "fingerprint", "kind", "actor")
# The key of the PostgreSQL advisory lock that serialises budget holds ("tierbotB").
BUDGET_LOCK = int.from_bytes(b"tierbotB", "big") & 0x7FFF_FFFF_FFFF_FFFF
