"""Comments held back: a review's comments that were not posted, each with why.

`ledger_comments.held` is NULL for a posted comment and the reason for one held back
(bot.core.selection.HeldReason: settled, below-severity, unsure, unconfirmed, duplicate; a
repeat of a comment already made is not recorded again),
so the report can count what checking comments before posting held back, by tier, severity and
category. Requests that check comments are rows of `ledger_requests` with the task `verify`;
they need no change here.

Revision ID: 0004
Revises: 0003
Create Date: 2026-07-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_comments") as table:
        table.add_column(sa.Column("held", sa.String(20)))


def downgrade() -> None:
    with op.batch_alter_table("ledger_comments") as table:
        table.drop_column("held")
