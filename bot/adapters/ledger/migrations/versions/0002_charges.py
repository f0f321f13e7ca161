"""The frontier budget's charges: money held for each frontier request, then settled.

A charge is written before a frontier request is sent, at the most that request can cost, in
the transaction that checks the month's budgets, and set to what the request cost once it
answers (bot.adapters.budget). The frontier requests recorded before this revision become settled
charges, so the month's budget counts them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_charges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("installation_id", sa.BigInteger()),
        sa.Column("repo", sa.String(200), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("usd", sa.Numeric(18, 9).with_variant(sa.BigInteger(), "sqlite"), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
    )
    op.create_index("ledger_charges_installation_at", "ledger_charges", ["installation_id", "at"])
    op.create_index("ledger_charges_repo_at", "ledger_charges", ["repo", "at"])
    op.execute(
        """INSERT INTO ledger_charges (at, installation_id, repo, number, usd, settled)
        SELECT at, installation_id, repo, number, usd, true FROM ledger_requests
        WHERE tier = 'frontier' AND usd IS NOT NULL"""
    )


def downgrade() -> None:
    op.drop_table("ledger_charges")
