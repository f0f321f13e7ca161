"""The job queue: deliveries recorded once, jobs admitted, claimed under a lease, renewed,
completed or failed with a bounded retry (see bot.adapters.queue for the guarantees)."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from bot.adapters.queue.admission import SqliteBook, duration
from bot.adapters.queue.held import HeldDeliveries
from bot.adapters.queue.rows import Admitted, LeaseLostError, QueuedJob, row_job
from bot.adapters.queue.rules import admit_jobs, delivered
from bot.adapters.queue.schema import (
    BACKOFF_FACTOR,
    COALESCING_KIND,
    DEFAULT_GIVE_UP_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    DONE,
    FAILED,
    MAX_BACKOFF_SECONDS,
    STATES,
    WAITING,
)
from bot.core.caps import Caps
from bot.core.job import Job


class JobQueue(HeldDeliveries):
    """The jobs and deliveries in one SQLite file; see the module docstring for the guarantees.

    `clock` gives the time in seconds (injectable so tests move time instead of sleeping);
    a retryable failure after attempt n waits `backoff_base * 4 ** (n - 1)` seconds, at most
    MAX_BACKOFF_SECONDS, times a factor from 0.5 to 1 drawn by `jitter` (so that jobs hit by the
    same outage do not all come back at once), and never less than the failure's `retry_at`;
    retries stop `give_up_seconds` after the first failure; `max_attempts` bounds the claims of
    one job, retries and lease expiries together (a job that keeps killing its worker).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Callable[[], float] = time.time,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = 10.0,
        give_up_seconds: float = DEFAULT_GIVE_UP_SECONDS,
        jitter: Callable[[], float] = random.random,
        busy_timeout: float = 10.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if not give_up_seconds > 0:
            raise ValueError(f"give_up_seconds must be positive, got {give_up_seconds}")
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._give_up_seconds = give_up_seconds
        self._jitter = jitter
        super().__init__(path, busy_timeout=busy_timeout)

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def record_delivery(self, delivery_id: str, event: str, action: str | None) -> bool:
        """Record a webhook delivery; False when this delivery id was already recorded."""
        return self.accept(delivery_id, event, action, ()) is not None

    def accept(
        self,
        delivery_id: str,
        event: str,
        action: str | None,
        jobs: Iterable[Job],
        *,
        command_limit: tuple[int, float] | None = None,
        caps: Caps | None = None,
    ) -> list[int] | None:
        """Record a delivery and enqueue its jobs in one transaction; None for a redelivery.

        The ids of the jobs stored; a command over `command_limit` is left out (see `admit`,
        which also says which were refused). Atomic both ways: a duplicate enqueues nothing, and
        a job that cannot be stored (say, a payload that is not JSON) leaves the delivery
        unrecorded, so GitHub's redelivery can retry.
        """
        admitted = self.admit(
            delivery_id, event, action, jobs, command_limit=command_limit, caps=caps
        )
        return None if admitted is None else admitted.ids

    def admit(
        self,
        delivery_id: str,
        event: str,
        action: str | None,
        jobs: Iterable[Job],
        *,
        command_limit: tuple[int, float] | None = None,
        caps: Caps | None = None,
    ) -> Admitted | None:
        """`accept`, telling which jobs were stored and which the limit and the caps refused.

        `command_limit` is (max commands, window seconds) per PR: a "command" job is refused when
        `max` command jobs of its PR (owner, repo, number) were created within the last `window`
        seconds of the queue's clock. `caps` refuse work by accounts without write access (see
        the module docstring). The delivery is recorded all the same (a redelivery of it is a
        duplicate), and the counts and the inserts share the transaction.
        """
        jobs, pull = delivered(delivery_id, jobs, command_limit)
        with self._transaction() as conn:
            now = self._clock()
            inserted = conn.execute(
                """INSERT INTO queue_deliveries
                (delivery_id, event, action, received_at, owner, repo, number)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                (delivery_id, event, action, now, *pull),
            ).rowcount
            if not inserted:
                return None
            return admit_jobs(
                SqliteBook(conn),
                jobs,
                delivery_id,
                now,
                command_limit=command_limit,
                caps=caps,
            )

    def pushed_since(self, owner: str, repo: str, number: int, since: float) -> bool:
        """Whether a delivery that asks to review the pull request (a push to it, mostly) was
        received after `since` (the queue's clock, as a job's `created_at`), whether or not its
        review was queued (a cap may have refused it, a later push replaced it)."""
        with self._connection() as conn:
            row = conn.execute(
                """SELECT 1 FROM queue_deliveries WHERE owner = ? AND repo = ? AND number = ?
                AND received_at > ? LIMIT 1""",
                (owner, repo, number, since),
            ).fetchone()
        return row is not None

    def enqueue(self, job: Job) -> int:
        """Persist a job and return its id; a review coalesces into the PR's waiting review."""
        with self._transaction() as conn:
            return SqliteBook(conn).insert(job, None, self._clock())

    def claim(self, worker: str, *, lease_seconds: float) -> QueuedJob | None:
        """Take the oldest runnable job for `worker`, leased for `lease_seconds`; None if none.

        Runnable: waiting, past its backoff, and no other job of its PR running. Expired leases
        are reaped first. `worker` must be unique among live workers (say host, pid and index):
        the lease is checked by this name.
        """
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be positive, got {lease_seconds}")
        with self._transaction() as conn:
            now = self._clock()
            self._reap(conn, now)
            row = conn.execute(
                """SELECT id FROM queue_jobs AS j
                WHERE state = 'waiting' AND run_after <= ? AND NOT EXISTS (
                    SELECT 1 FROM queue_jobs AS r WHERE r.state = 'running'
                    AND r.owner = j.owner AND r.repo = j.repo AND r.number = j.number)
                ORDER BY id LIMIT 1""",
                (now,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                """UPDATE queue_jobs SET state = 'running', worker = ?, lease_until = ?,
                attempts = attempts + 1, updated_at = ? WHERE id = ?""",
                (worker, now + lease_seconds, now, row["id"]),
            )
            job = conn.execute("SELECT * FROM queue_jobs WHERE id = ?", (row["id"],)).fetchone()
            return row_job(job)

    def renew(self, job_id: int, worker: str, *, lease_seconds: float) -> bool:
        """Extend the lease from now; False when the worker lost it (stop working on the job)."""
        with self._transaction() as conn:
            now = self._clock()
            return bool(
                conn.execute(
                    """UPDATE queue_jobs SET lease_until = ?, updated_at = ?
                    WHERE id = ? AND state = 'running' AND worker = ?""",
                    (now + lease_seconds, now, job_id, worker),
                ).rowcount
            )

    def complete(self, job_id: int, worker: str, *, outcome: str) -> None:
        """Mark the job done with its outcome; `LeaseLostError` if the worker no longer holds it."""
        with self._transaction() as conn:
            self._held(conn, job_id, worker)
            self._finish(conn, job_id, DONE, self._clock(), outcome=outcome)

    def fail(
        self,
        job_id: int,
        worker: str,
        *,
        error: str,
        retryable: bool,
        retry_at: float | None = None,
    ) -> str:
        """Record a failure; return the job's new state.

        "waiting": it will run again after its backoff, and not before `retry_at` (epoch seconds,
        when the service said when to come back). "failed": not retryable, out of attempts, or
        `give_up_seconds` after its first failure (or told to wait past that); `error` is kept
        to show on the PR. "done": a retryable review that a newer waiting review of the same PR
        supersedes (latest head wins). `LeaseLostError` if not held.
        """
        with self._transaction() as conn:
            job = self._held(conn, job_id, worker)
            now = self._clock()
            if not retryable:
                return self._finish(conn, job_id, FAILED, now, error=error)
            ceiling = min(
                self._backoff_base * BACKOFF_FACTOR ** (job["attempts"] - 1), MAX_BACKOFF_SECONDS
            )
            run_after = now + ceiling * (0.5 + 0.5 * self._jitter())
            return self._requeue(conn, job, now, run_after, error, not_before=retry_at)

    def get(self, job_id: int) -> QueuedJob | None:
        """The job with this id, or None."""
        with self._connection() as conn:
            row = conn.execute("SELECT * FROM queue_jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else row_job(row)

    def depth(self) -> dict[str, int]:
        """How many jobs are in each state (every state present), for /metrics."""
        with self._connection() as conn:
            rows = conn.execute("SELECT state, count(*) FROM queue_jobs GROUP BY state").fetchall()
        return dict.fromkeys(STATES, 0) | {row[0]: row[1] for row in rows}

    def recent_failures(self, limit: int = 20) -> list[QueuedJob]:
        """The latest failed jobs, newest first, with their errors."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT * FROM queue_jobs WHERE state = 'failed' ORDER BY updated_at DESC, id DESC "
                "LIMIT ?",
                (limit,),
            ).fetchall()
        return [row_job(row) for row in rows]

    def prune(self, older_than: float) -> int:
        """Delete finished jobs and deliveries older than `older_than` seconds; return how many."""
        with self._transaction() as conn:
            cutoff = self._clock() - older_than
            jobs = conn.execute(
                "DELETE FROM queue_jobs WHERE state IN ('done', 'failed') AND updated_at < ?",
                (cutoff,),
            ).rowcount
            deliveries = conn.execute(
                "DELETE FROM queue_deliveries WHERE received_at < ?", (cutoff,)
            ).rowcount
        return jobs + deliveries

    def _reap(self, conn: sqlite3.Connection, now: float) -> None:
        """Put running jobs whose lease ran out back in line, or end them if out of attempts."""
        expired = conn.execute(
            "SELECT * FROM queue_jobs WHERE state = 'running' AND lease_until <= ?", (now,)
        ).fetchall()
        for job in expired:
            error = f"lease expired on worker {job['worker']} (attempt {job['attempts']})"
            self._requeue(conn, job, now, now, error)

    def _requeue(
        self,
        conn: sqlite3.Connection,
        job: sqlite3.Row,
        now: float,
        run_after: float,
        error: str,
        *,
        not_before: float | None = None,
    ) -> str:
        """Send a job that ran back to waiting, unless superseded, out of attempts or out of
        time. The last retry runs `give_up_seconds` after the first failure at the latest; a
        job told to wait (`not_before`) past that is given up at once."""
        if job["kind"] == COALESCING_KIND:
            newer = conn.execute(
                """SELECT id FROM queue_jobs WHERE state = 'waiting' AND kind = 'review'
                AND owner = ? AND repo = ? AND number = ?""",
                (job["owner"], job["repo"], job["number"]),
            ).fetchone()
            if newer is not None:
                outcome = f"superseded by job {newer['id']}"
                return self._finish(conn, job["id"], DONE, now, outcome=outcome, error=error)
        attempts = job["attempts"]
        if attempts >= self._max_attempts:
            error = f"{error}; gave up after {attempts} attempts"
            return self._finish(conn, job["id"], FAILED, now, error=error)
        since = job["failing_since"] if job["failing_since"] is not None else now
        deadline = since + self._give_up_seconds
        tried = f"{attempts} attempt" + ("" if attempts == 1 else "s")
        if now >= deadline:
            error = f"{error}; gave up after {tried} over {duration(now - since)}"
            return self._finish(conn, job["id"], FAILED, now, error=error)
        if not_before is not None and not_before > deadline:
            wait = duration(not_before - now)
            error = f"{error}; gave up after {tried}: told to wait {wait}, past the time allowed"
            return self._finish(conn, job["id"], FAILED, now, error=error)
        if not_before is not None:
            run_after = max(run_after, not_before)
        run_after = min(run_after, deadline)
        conn.execute(
            """UPDATE queue_jobs SET state = 'waiting', worker = NULL, lease_until = NULL,
            run_after = ?, error = ?, failing_since = ?, updated_at = ? WHERE id = ?""",
            (run_after, error, since, now, job["id"]),
        )
        return WAITING

    @staticmethod
    def _held(conn: sqlite3.Connection, job_id: int, worker: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM queue_jobs WHERE id = ? AND state = 'running' AND worker = ?",
            (job_id, worker),
        ).fetchone()
        if row is None:
            raise LeaseLostError(f"job {job_id} is not held by worker {worker!r}")
        return row

    @staticmethod
    def _finish(
        conn: sqlite3.Connection,
        job_id: int,
        state: str,
        now: float,
        *,
        outcome: str | None = None,
        error: str | None = None,
    ) -> str:
        """End a job in `state`, keeping the last error unless a new one is given."""
        conn.execute(
            """UPDATE queue_jobs SET state = ?, outcome = ?, error = coalesce(?, error),
            lease_until = NULL, updated_at = ? WHERE id = ?""",
            (state, outcome, error, now, job_id),
        )
        return state
