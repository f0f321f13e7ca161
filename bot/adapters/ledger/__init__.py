"""The cost ledger: every review, model request, posted comment and piece of feedback, in SQL.

SQLAlchemy Core on the SQLite file of the embedded defaults, or on PostgreSQL when the URL says so
(`postgresql://` is driven by psycopg 3). The schema is Alembic's (`migrations/` here), applied by
`Ledger.migrate` with its own version table, `ledger_alembic_version`, so the ledger shares the
SQLite file with the job queue's `queue_*` tables and never touches them.

What a row means:
- `ledger_reviews`: one review of one head commit (tier, score, reasons, coverage, outcome, and
  what it cost against the all-frontier baseline);
- `ledger_requests`: one tier's attempt at a task (a review, an /ask answer): its `parts` model
  calls together, tokens by kind, dollars, GPU and wall seconds, whether it was an escalation (a
  frontier redo of a local attempt) and its errors. Its dollars come from the caller's `Spend`:
  the local attempt gets `Spend.local_usd` and the frontier attempt `Spend.frontier_usd` (or pass
  `attempt_usd` when two attempts share a tier). The all-frontier baseline of the task is carried
  whole by its last attempt, the one whose result stood, and is 0 on the others, so summing
  requests gives spend and baseline for any mix of reviews and answers;
- `ledger_comments`: one inline comment posted, by fingerprint, with the tier that wrote it,
  its severity and category; or one held back, not posted (`held`: why);
- `ledger_feedback`: one reaction, resolved thread or committed suggestion, recorded once;
- `ledger_charges`: one frontier request's money, held against the month's budgets before the
  request is sent (at the most it can cost) and settled to what it cost (bot.adapters.budget); the
  budgets count these, so requests in flight count too;
- `ledger_shadows`: one shadow review (bot.core.shadow), the frontier model's unposted review of a
  change the local model reviewed, beside the review it shadows: how it ended, the local model's
  confidence measures, and its request, a `ledger_requests` row of task `shadow` with a baseline
  of 0 (its cost is spend; an all-frontier review would not have made it);
- `ledger_shadow_findings`: one finding of a shadow review's two reviews (bot.core.matching), with
  which found it and each one's severity and comment fingerprint.

Text that came from elsewhere (reasons, coverage, failures, errors, paths) is stored with any
secret in it replaced (bot.core.secrets.redaction.scrub); comment bodies are not stored.

Money is exact: amounts are stored to the nano-dollar (9 places, rounded half-even), as
NUMERIC(18, 9) on PostgreSQL and, because SQLite's NUMERIC is a float, as an integer count of
nano-dollars on SQLite; either way SQL's SUM is exact and comes back as a Decimal. Seconds are
kept the same way, to the microsecond. Times are UTC.

Thread safety: the methods are synchronous (callers use `asyncio.to_thread`) and may run on any
thread; each Ledger has its own engine and connection pool. On SQLite the journal is WAL (readers
never block the writer), a busy timeout makes a writer wait its turn, and every write transaction
starts with BEGIN IMMEDIATE, so concurrent writers queue instead of failing on a lock upgrade.
"""

from bot.adapters.ledger.acceptance import Acceptance, Received
from bot.adapters.ledger.report import Report, TierReport, Tokens
from bot.adapters.ledger.schema import FEEDBACK_KINDS, METADATA, TIERS, VERSION_TABLE
from bot.adapters.ledger.store import Ledger, LedgerPurse

__all__ = [
    "FEEDBACK_KINDS",
    "METADATA",
    "TIERS",
    "VERSION_TABLE",
    "Acceptance",
    "Ledger",
    "LedgerPurse",
    "Received",
    "Report",
    "TierReport",
    "Tokens",
]
