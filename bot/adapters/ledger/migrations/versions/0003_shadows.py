"""Shadow reviews: the frontier model's unposted review of a change the local model reviewed,
and the findings of the two matched (bot.core.matching).

`ledger_shadows` has one row per shadow review, beside the review it shadows, with how it ended,
the frontier request that holds its tokens and dollars (task `shadow`), and the local model's
confidence measures on the review it shadows; `ledger_shadow_findings` one row per finding, with
which review found it and each review's severity and comment fingerprint.

Revision ID: 0003
Revises: 0002
Create Date: 2026-06-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_shadows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "review_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("ledger_reviews.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "request_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("ledger_requests.id", ondelete="SET NULL"),
        ),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("failure", sa.Text()),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("local_mean_entropy", sa.Float()),
        sa.Column("local_quantile_entropy", sa.Float()),
        sa.Column("local_hedges", sa.Integer()),
    )
    op.create_index("ledger_shadows_repo_at", "ledger_shadows", ["repo", "at"])
    op.create_index("ledger_shadows_review", "ledger_shadows", ["review_id"])
    op.create_table(
        "ledger_shadow_findings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column(
            "shadow_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("ledger_shadows.id", ondelete="CASCADE"),
            nullable=False,
        ),
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
    op.create_index("ledger_shadow_findings_shadow", "ledger_shadow_findings", ["shadow_id"])


def downgrade() -> None:
    op.drop_table("ledger_shadow_findings")
    op.drop_table("ledger_shadows")
