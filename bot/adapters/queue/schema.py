"""The queue's tables: their states and kinds, its limits, and the migrations that make them."""

from __future__ import annotations

from typing import Final

WAITING: Final = "waiting"
RUNNING: Final = "running"
DONE: Final = "done"
FAILED: Final = "failed"
STATES: Final = (WAITING, RUNNING, DONE, FAILED)

COALESCING_KIND: Final = "review"
"""The one kind that coalesces; its literal is also in the SQL below, the unique index included."""
COMMAND_KIND: Final = "command"
"""The kind a command limit applies to; its literal is also in the SQL below and its index."""
NOTICE_KIND: Final = "notice"
"""A message the bot owes a pull request about work a cap refused; no cap counts it."""
MAX_PAYLOAD_BYTES: Final = 256 * 1024
"""Only ids and short text go on the queue; a payload this big is a whole webhook body or a diff."""
BACKOFF_FACTOR: Final = 4.0
MAX_BACKOFF_SECONDS: Final = 900.0
"""The longest wait between two tries: a service that is back is noticed within 15 minutes."""
DEFAULT_GIVE_UP_SECONDS: Final = 7200.0
"""How long after its first failure a job is still retried: past an hour-long rate-limit window."""
DEFAULT_MAX_ATTEMPTS: Final = 30

_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE queue_deliveries (
            delivery_id TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            action TEXT,
            received_at REAL NOT NULL
        ) WITHOUT ROWID""",
        # Owner and repo names are case-insensitive on GitHub (ASCII only).
        """CREATE TABLE queue_jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
            owner TEXT NOT NULL COLLATE NOCASE, repo TEXT NOT NULL COLLATE NOCASE,
            number INTEGER NOT NULL, installation_id INTEGER, head_sha TEXT,
            trigger TEXT NOT NULL, tier_hint TEXT, payload TEXT NOT NULL, delivery_id TEXT,
            state TEXT NOT NULL CHECK (state IN ('waiting', 'running', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
            updated_at REAL NOT NULL, run_after REAL NOT NULL,
            worker TEXT, lease_until REAL, outcome TEXT, error TEXT
        )""",
        "CREATE INDEX queue_jobs_by_state ON queue_jobs (state, id)",
        # The invariants, held by the database itself and not only by the code that writes.
        """CREATE UNIQUE INDEX queue_jobs_one_running_per_pr
            ON queue_jobs (owner, repo, number) WHERE state = 'running'""",
        """CREATE UNIQUE INDEX queue_jobs_one_waiting_review_per_pr
            ON queue_jobs (owner, repo, number) WHERE state = 'waiting' AND kind = 'review'""",
    ),
    # 2: the command limit counts a PR's recent commands without scanning the table.
    (
        """CREATE INDEX queue_jobs_commands_by_pr
            ON queue_jobs (owner, repo, number, created_at) WHERE kind = 'command'""",
    ),
    # 3: retries end a bounded time after a job's first failure, not after a number of tries;
    # deliveries whose routing needs the App's login wait here until it is known.
    (
        "ALTER TABLE queue_jobs ADD COLUMN failing_since REAL",
        """CREATE TABLE queue_held (
            id INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL UNIQUE,
            event TEXT NOT NULL, body BLOB NOT NULL, received_at REAL NOT NULL
        )""",
    ),
    # 4: the caps count an account's (and a repo's) recent work; logins are case-insensitive.
    (
        "ALTER TABLE queue_jobs ADD COLUMN author TEXT COLLATE NOCASE",
        """CREATE INDEX queue_jobs_by_author
            ON queue_jobs (owner, repo, kind, author, created_at) WHERE author IS NOT NULL""",
    ),
    # 5: a delivery that asks for a review (a push, mostly) names its pull request, whatever
    # became of the review, so that a command can tell whether the head moved after it.
    (
        "ALTER TABLE queue_deliveries ADD COLUMN owner TEXT COLLATE NOCASE",
        "ALTER TABLE queue_deliveries ADD COLUMN repo TEXT COLLATE NOCASE",
        "ALTER TABLE queue_deliveries ADD COLUMN number INTEGER",
        """CREATE INDEX queue_deliveries_by_pr
            ON queue_deliveries (owner, repo, number, received_at) WHERE number IS NOT NULL""",
    ),
    # 6: a repo's recent work is a range of this index (the caps count it up to the cap); in
    # queue_jobs_by_author the time comes after the author, so the repo's count read every job.
    (
        """CREATE INDEX queue_jobs_recent_by_repo
            ON queue_jobs (owner, repo, kind, created_at) WHERE author IS NOT NULL""",
    ),
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)
