"""The ledger's tables: reviews, model requests, posted comments and feedback.

Money is NUMERIC(18, 9) on PostgreSQL and an integer count of nano-dollars on SQLite (whose NUMERIC
is a float), seconds likewise to the microsecond: see bot/adapters/ledger/schema.py.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def _exact(scale: int) -> sa.types.TypeEngine[Decimal]:
    return sa.Numeric(18, scale).with_variant(sa.BigInteger(), "sqlite")


def _where() -> list[sa.Column[object]]:
    return [
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "ledger_reviews",
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
        sa.Column("spent_usd", _exact(9)),
        sa.Column("baseline_usd", _exact(9)),
        sa.Column("baseline_estimated", sa.Boolean()),
    )
    op.create_index("ledger_reviews_repo_at", "ledger_reviews", ["repo", "at"])
    op.create_index("ledger_reviews_at", "ledger_reviews", ["at"])
    op.create_table(
        "ledger_requests",
        _id(),
        sa.Column(
            "review_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("ledger_reviews.id", ondelete="CASCADE"),
        ),
        *_where(),
        sa.Column("task", sa.String(20), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("usd", _exact(9)),
        sa.Column("baseline_usd", _exact(9)),
        sa.Column("baseline_estimated", sa.Boolean()),
        sa.Column("gpu_seconds", _exact(6), nullable=False),
        sa.Column("wall_seconds", _exact(6), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
    )
    op.create_index("ledger_requests_repo_at", "ledger_requests", ["repo", "at"])
    op.create_index("ledger_requests_at", "ledger_requests", ["at"])
    op.create_index("ledger_requests_review", "ledger_requests", ["review_id"])
    op.create_table(
        "ledger_comments",
        _id(),
        sa.Column(
            "review_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("ledger_reviews.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(5), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("category", sa.String(100), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
    )
    op.create_index(
        "ledger_comments_fingerprint", "ledger_comments", ["repo", "number", "fingerprint"]
    )
    op.create_index("ledger_comments_review", "ledger_comments", ["review_id"])
    op.create_table(
        "ledger_feedback",
        _id(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.UniqueConstraint(
            "repo", "number", "fingerprint", "kind", "actor", name="ledger_feedback_once"
        ),
    )


def downgrade() -> None:
    for table in ("ledger_feedback", "ledger_comments", "ledger_requests", "ledger_reviews"):
        op.drop_table(table)
