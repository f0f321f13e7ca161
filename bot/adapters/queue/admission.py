"""The admission rules' `Book` on the SQLite queue: the counts they read and the insert they make,
within the caller's transaction (the rules themselves are in bot.adapters.queue.rules)."""

from __future__ import annotations

import json
import sqlite3

from bot.adapters.queue.rules import check_command_limit, duration
from bot.adapters.queue.schema import COALESCING_KIND, MAX_PAYLOAD_BYTES
from bot.core.job import Job

__all__ = ["SqliteBook", "check_command_limit", "duration", "payload_text"]


def payload_text(job: Job) -> str:
    """The job's payload as compact JSON; ValueError when over MAX_PAYLOAD_BYTES."""
    payload = json.dumps(dict(job.payload), sort_keys=True, separators=(",", ":"), allow_nan=False)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"job payload is {len(payload.encode())} bytes, over {MAX_PAYLOAD_BYTES}")
    return payload


class SqliteBook:
    """The rules' counts and inserts on an open SQLite transaction (`queue_jobs`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def recent_commands(self, job: Job, since: float) -> int:
        row = self.conn.execute(
            """SELECT count(*) FROM queue_jobs WHERE kind = 'command'
            AND owner = ? AND repo = ? AND number = ? AND created_at > ?""",
            (job.owner, job.repo, job.number, since),
        ).fetchone()
        return int(row[0])

    def work_counts(
        self, job: Job, kinds: list[str], since: float, enough: tuple[int, int]
    ) -> tuple[int, int]:
        marks = ", ".join("?" * len(kinds))
        recent = f"owner = ? AND repo = ? AND kind IN ({marks}) AND created_at > ?"
        # Each count stops at its cap: the scan is bounded by the caps, not by the repo's hour.
        by_repo, by_author = self.conn.execute(
            f"""SELECT
                (SELECT count(*) FROM (SELECT 1 FROM queue_jobs
                    WHERE {recent} AND author IS NOT NULL LIMIT ?)),
                (SELECT count(*) FROM (SELECT 1 FROM queue_jobs
                    WHERE {recent} AND author = ? LIMIT ?))""",  # noqa: S608 - placeholders only
            (
                *(job.owner, job.repo, *kinds, since, enough[0]),
                *(job.owner, job.repo, *kinds, since, job.author, enough[1]),
            ),
        ).fetchone()
        return int(by_repo), int(by_author)

    def notice_sent(self, job: Job, work: str, since: float) -> bool:
        sent = self.conn.execute(
            """SELECT 1 FROM queue_jobs WHERE owner = ? AND repo = ? AND kind = 'notice'
            AND author = ? AND trigger = ? AND created_at > ? LIMIT 1""",
            (job.owner, job.repo, job.author, work, since),
        ).fetchone()
        return sent is not None

    def waiting_review(self, job: Job) -> bool:
        return self.waiting_review_id(job) is not None

    def waiting_review_id(self, job: Job) -> int | None:
        row = self.conn.execute(
            """SELECT id FROM queue_jobs WHERE state = 'waiting' AND kind = 'review'
            AND owner = ? AND repo = ? AND number = ?""",
            (job.owner, job.repo, job.number),
        ).fetchone()
        return None if row is None else int(row[0])

    def insert(self, job: Job, delivery_id: str | None, now: float) -> int:
        """Store a job, coalescing a review into its PR's waiting review (reset as a fresh
        job)."""
        payload = payload_text(job)
        values: tuple[object, ...] = (job.installation_id, job.head_sha, job.trigger, job.tier_hint)
        values += (payload, delivery_id, job.author, now, now)
        if job.kind == COALESCING_KIND:
            waiting = self.waiting_review_id(job)
            if waiting is not None:
                self.conn.execute(
                    """UPDATE queue_jobs SET installation_id = ?, head_sha = ?, trigger = ?,
                    tier_hint = ?, payload = ?, delivery_id = ?, author = ?, updated_at = ?,
                    run_after = ?, attempts = 0, error = NULL, failing_since = NULL
                    WHERE id = ?""",
                    (*values, waiting),
                )
                return waiting
        cursor = self.conn.execute(
            """INSERT INTO queue_jobs (installation_id, head_sha, trigger, tier_hint, payload,
            delivery_id, author, updated_at, run_after, kind, owner, repo, number, state,
            created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?)""",
            (*values, job.kind, job.owner, job.repo, job.number, now),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid
