"""The PostgreSQL queue's schema: procrastinate's own (its jobs, workers, events, periodic defers)
and tierbot's tables beside it (deliveries seen, the jobs admitted, held deliveries), applied by
`tierbot migrate` and checked by `serve` and `worker` before they start."""

from __future__ import annotations

from importlib import resources
from typing import Final

import psycopg

from bot.adapters.settings import is_postgres_url

MIGRATION_LOCK: Final = 0x7469_6572_6A6F_6273  # an advisory lock id: b"tierjobs"

TABLES: Final = """
CREATE TABLE IF NOT EXISTS tierbot_deliveries (
    delivery_id text PRIMARY KEY,
    event text NOT NULL,
    action text,
    received_at double precision NOT NULL,
    owner text,
    repo text,
    number integer
);
CREATE INDEX IF NOT EXISTS tierbot_deliveries_pull
    ON tierbot_deliveries (owner, repo, number, received_at);
CREATE INDEX IF NOT EXISTS tierbot_deliveries_received ON tierbot_deliveries (received_at);
CREATE TABLE IF NOT EXISTS tierbot_admitted (
    job_id bigint PRIMARY KEY,
    kind text NOT NULL,
    owner text NOT NULL,
    repo text NOT NULL,
    number integer NOT NULL,
    author text,
    trigger text NOT NULL,
    delivery_id text,
    created_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS tierbot_admitted_repo
    ON tierbot_admitted (owner, repo, kind, created_at);
CREATE INDEX IF NOT EXISTS tierbot_procrastinate_jobs_lock
    ON procrastinate_jobs (lock) WHERE status IN ('todo', 'doing');
CREATE TABLE IF NOT EXISTS tierbot_held (
    id bigserial PRIMARY KEY,
    delivery_id text NOT NULL UNIQUE,
    event text NOT NULL,
    body bytea NOT NULL,
    received_at double precision NOT NULL
);
"""
"""tierbot's tables: `tierbot_admitted` keeps one row per stored job (the caps and the command
limit count them, whatever became of the job in procrastinate's table). And one index on
procrastinate's jobs: its fetch checks each candidate's `lock` against the other waiting and
running jobs, which without an index on `lock` scans them all, so that a backlog of 2,000 jobs
ran at about 30 jobs a second with 4 workers instead of about 220 (bench/jobqueues.py)."""

REQUIRED: Final = ("procrastinate_jobs", "tierbot_deliveries", "tierbot_admitted", "tierbot_held")


def connect_url(url: str) -> str:
    """The libpq URL of a `postgresql://` or `postgresql+psycopg://` URL."""
    scheme, _, rest = url.partition("://")
    if not is_postgres_url(url):
        raise ValueError(f"the job queue on PostgreSQL needs a postgresql:// URL, got {scheme}://")
    return f"postgresql://{rest}"


def migrate(url: str) -> bool:
    """Apply procrastinate's schema (when its tables are absent) and tierbot's tables, under an
    advisory lock so that processes starting at once take turns; True when anything was new."""
    procrastinate_sql = (resources.files("procrastinate.sql") / "schema.sql").read_text("utf-8")
    with psycopg.connect(connect_url(url)) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        missing = _missing(conn)
        if "procrastinate_jobs" in missing:
            conn.execute(procrastinate_sql)  # the library's own DDL
        conn.execute(TABLES)
    return bool(missing)


def missing_tables(url: str) -> list[str]:
    """The queue's tables that the database lacks (empty when migrated)."""
    with psycopg.connect(connect_url(url)) as conn:
        return _missing(conn)


def _missing(conn: psycopg.Connection[tuple[object, ...]]) -> list[str]:
    missing: list[str] = []
    for table in REQUIRED:
        row = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if row is None or row[0] is None:
            missing.append(table)
    return missing
