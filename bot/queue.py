"""The embedded durable job queue: webhook deliveries and review jobs in a SQLite file.

The webhook handler records each delivery and persists its jobs in one transaction before it answers
202; in-process workers claim jobs, hold a lease they renew, and complete or fail them. The file is
the one the ledger uses, so this module owns only its `queue_*` tables and their schema version.

Semantics (the same as the scale-out engine's, procrastinate's `queueing_lock` and `lock`):

- a delivery id (`X-GitHub-Delivery`) is accepted once; a redelivery enqueues nothing; a
  delivery that asks for a review records its pull request, so that `pushed_since` can tell a
  command whether the pull request's head may have moved after it was given;
- a new "review" job replaces the PR's waiting one in place (latest head wins, the PR keeps its
  place in line); other kinds, such as commands, never coalesce;
- with a command limit (max, window), `admit` stores a PR's "command" job only while fewer than
  max command jobs of that PR were created in the last window seconds (whatever became of them);
  one over is refused, not stored, counted in the same transaction as the insert, so concurrent
  deliveries cannot overshoot; refused commands do not count, so a flood does not extend its own
  lockout;
- with caps (bot.caps), a job that carries an `author` (an account without write access by its
  association) is refused, not stored, when that account, or all such accounts on the repo,
  already had the cap's number of jobs of its work (reviews, commands, thread replies) created
  in the last window, counted in the same transaction as the insert; a review that replaces its
  PR's waiting review adds no work and is not refused; refused work does not count. In its place
  the first refused review or command of an account in a window stores a "notice" job, which
  tells the pull request why (one per account, work and window, so a flood is not answered with
  a flood; a refused thread reply gets none);
- at most one job per PR (owner, repo, number) runs at a time;
- a running job whose lease ran out (its worker died or hung) is taken up again by the next claim,
  and the old worker can no longer renew, complete or fail it;
- a retryable failure waits about 10 s, 40 s, 160 s, ... (at most 15 minutes, with jitter, and
  never before the time the service said to come back) until `give_up_seconds` have passed since
  the job's first failure; then it ends "failed" with its error, as does a job claimed
  `max_attempts` times (one that keeps losing its worker).

Thread safety: every method may be called from any thread (callers use `asyncio.to_thread`). Each
call borrows a connection from a small pool, used by one thread at a time; every write runs in a
`BEGIN IMMEDIATE` transaction, so SQLite serialises writers across threads and processes, and
`busy_timeout` makes a contender wait instead of failing. Journal mode is WAL: readers never block
the writer, and a commit survives the process being killed (`synchronous=NORMAL` skips the fsync
per commit, so the last commits can be lost on power failure only:
https://www.sqlite.org/pragma.html#pragma_synchronous).
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Final

from bot.caps import Caps, Refusal
from bot.job import CAPPED_WORK, Job

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
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)


class LeaseLostError(RuntimeError):
    """The worker no longer holds the job: its lease ran out and another claim took it up."""


@dataclass(frozen=True)
class Admitted:
    """What `JobQueue.admit` did with a new delivery's jobs: the ids of those stored, in order
    (a coalesced review gives its waiting job's id; notices included), the commands the per-PR
    limit refused, the work the caps refused, and the ids of the notices stored for that."""

    ids: list[int]
    refused: list[Job]
    capped: list[Refusal] = field(default_factory=list)
    notices: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HeldDelivery:
    """A verified delivery kept, body and all, until it can be routed (see `JobQueue.hold`)."""

    delivery_id: str
    event: str
    body: bytes


@dataclass(frozen=True, kw_only=True)
class QueuedJob(Job):
    """A job as the queue holds it (its row); `attempts` counts the times it was claimed;
    `failing_since` is when its current run of failures began (None while it has not failed)."""

    id: int
    state: str
    attempts: int
    created_at: float
    run_after: float
    outcome: str | None = None
    error: str | None = None
    failing_since: float | None = None


class JobQueue:
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
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError(f"the queue needs a database file path, got {str(path)!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if not give_up_seconds > 0:
            raise ValueError(f"give_up_seconds must be positive, got {give_up_seconds}")
        self._path = str(path)
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._give_up_seconds = give_up_seconds
        self._jitter = jitter
        self._busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._migrate()

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections; a call in flight closes its own when it ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

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
        if not delivery_id:
            raise ValueError("delivery id is empty")
        if command_limit is not None:
            check_command_limit(command_limit)
        jobs = list(jobs)
        pushed = next((job for job in jobs if job.kind == COALESCING_KIND), None)
        pull = (pushed.owner, pushed.repo, pushed.number) if pushed else (None, None, None)
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
            admitted = Admitted([], [])
            for job in jobs:
                if command_limit is not None and job.kind == COMMAND_KIND:
                    most, window = command_limit
                    if _recent_commands(conn, job, now - window) >= most:
                        admitted.refused.append(job)
                        continue
                refusal = _capped(conn, job, caps, now) if caps is not None else None
                if refusal is not None:
                    assert caps is not None
                    admitted.capped.append(refusal)
                    notice = _notice(conn, job, refusal, now - caps.window_seconds)
                    if notice is not None:
                        stored = _insert(conn, notice, delivery_id, now)
                        admitted.ids.append(stored)
                        admitted.notices.append(stored)
                    continue
                admitted.ids.append(_insert(conn, job, delivery_id, now))
            return admitted

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
            return _insert(conn, job, None, self._clock())

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
            return _job(job)

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

    def hold(self, delivery_id: str, event: str, body: bytes, *, max_held: int) -> bool | None:
        """Keep a verified delivery whose routing must wait (it needs the App's login, which
        GitHub has not told yet). True when held; False for a delivery id already accepted or
        held (a redelivery); None when `max_held` deliveries wait already (refuse it, so GitHub
        records the delivery as failed and it can be redelivered)."""
        if not delivery_id:
            raise ValueError("delivery id is empty")
        with self._transaction() as conn:
            seen = conn.execute(
                "SELECT 1 FROM queue_deliveries WHERE delivery_id = ? UNION ALL "
                "SELECT 1 FROM queue_held WHERE delivery_id = ?",
                (delivery_id, delivery_id),
            ).fetchone()
            if seen is not None:
                return False
            if conn.execute("SELECT count(*) FROM queue_held").fetchone()[0] >= max_held:
                return None
            conn.execute(
                "INSERT INTO queue_held (delivery_id, event, body, received_at) "
                "VALUES (?, ?, ?, ?)",
                (delivery_id, event, body, self._clock()),
            )
            return True

    def held(self, limit: int = 100) -> list[HeldDelivery]:
        """The oldest held deliveries, in the order they came."""
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT delivery_id, event, body FROM queue_held ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [HeldDelivery(row[0], row[1], bytes(row[2])) for row in rows]

    def release(self, delivery_id: str) -> None:
        """Forget a held delivery once it was routed (`admit` has recorded it by then)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM queue_held WHERE delivery_id = ?", (delivery_id,))

    def held_count(self) -> int:
        """How many deliveries wait to be routed."""
        with self._connection() as conn:
            return int(conn.execute("SELECT count(*) FROM queue_held").fetchone()[0])

    def get(self, job_id: int) -> QueuedJob | None:
        """The job with this id, or None."""
        with self._connection() as conn:
            row = conn.execute("SELECT * FROM queue_jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

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
        return [_job(row) for row in rows]

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
            error = f"{error}; gave up after {tried} over {_duration(now - since)}"
            return self._finish(conn, job["id"], FAILED, now, error=error)
        if not_before is not None and not_before > deadline:
            wait = _duration(not_before - now)
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

    def _migrate(self) -> None:
        """Create or upgrade this module's tables; refuse a file written by a newer version."""
        with self._connection() as conn:
            # Switching to WAL needs the file to itself, and SQLite answers "locked" at once,
            # without its busy wait, while another process is starting up on it: try again.
            deadline = time.monotonic() + 10
            while str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        with self._transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS queue_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM queue_schema").fetchone()
            current = 0 if row is None else int(row[0])
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self._path}: queue schema version {current} is newer than this "
                    f"tierbot's ({SCHEMA_VERSION}); upgrade tierbot"
                )
            for statements in _MIGRATIONS[current:]:
                for statement in statements:
                    conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO queue_schema VALUES (?)", (SCHEMA_VERSION,))
            else:
                conn.execute("UPDATE queue_schema SET version = ?", (SCHEMA_VERSION,))

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode (isolation_level=None): transactions are only the explicit ones below.
        # check_same_thread=False: the pool hands a connection to one thread at a time.
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            with self._lock:
                closed = self._closed
                if not closed:
                    self._idle.append(conn)
            if closed:
                conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock at once (no deadlock on lock upgrade)."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise


def check_command_limit(limit: tuple[int, float]) -> None:
    """Refuse a command limit that is not (at least 1 command, a positive window in seconds)."""
    most, window = limit
    if isinstance(most, bool) or not isinstance(most, int) or most < 1 or not window > 0:
        raise ValueError(
            f"command limit must be (max commands >= 1, window seconds > 0), got {limit!r}"
        )


def _recent_commands(conn: sqlite3.Connection, job: Job, since: float) -> int:
    """How many command jobs of the job's PR were created after `since`, in any state."""
    row = conn.execute(
        """SELECT count(*) FROM queue_jobs WHERE kind = 'command'
        AND owner = ? AND repo = ? AND number = ? AND created_at > ?""",
        (job.owner, job.repo, job.number, since),
    ).fetchone()
    return int(row[0])


def _capped(conn: sqlite3.Connection, job: Job, caps: Caps, now: float) -> Refusal | None:
    """The cap that refuses `job`, or None: only counted work by an author is capped, and a
    review that replaces its PR's waiting review adds no work."""
    work = CAPPED_WORK.get(job.kind)
    if work is None or job.author is None:
        return None
    if job.kind == COALESCING_KIND and _waiting_review(conn, job) is not None:
        return None
    kinds = sorted(kind for kind, counted in CAPPED_WORK.items() if counted == work)
    marks = ", ".join("?" * len(kinds))
    since = now - caps.window_seconds
    where = f"owner = ? AND repo = ? AND kind IN ({marks}) AND author IS NOT NULL"
    by_repo, by_author = conn.execute(
        f"""SELECT count(*), count(CASE WHEN author = ? THEN 1 END) FROM queue_jobs
        WHERE {where} AND created_at > ?""",  # noqa: S608 - only placeholders are formatted in
        (job.author, job.owner, job.repo, *kinds, since),
    ).fetchone()
    return caps.check(work, job.author, f"{job.owner}/{job.repo}", by_author, by_repo)


def _notice(conn: sqlite3.Connection, job: Job, refusal: Refusal, since: float) -> Job | None:
    """The notice job for a refusal, unless the account already got one for this work since
    `since` on this repo."""
    if job.author is None or refusal.work == "reply":
        return None
    sent = conn.execute(
        """SELECT 1 FROM queue_jobs WHERE owner = ? AND repo = ? AND kind = 'notice'
        AND author = ? AND trigger = ? AND created_at > ? LIMIT 1""",
        (job.owner, job.repo, job.author, refusal.work, since),
    ).fetchone()
    if sent is not None:
        return None
    payload: dict[str, Any] = {
        "work": refusal.work,
        "reason": refusal.text(),
        "user": refusal.author,
    }
    comment_id = job.payload.get("comment_id")
    if isinstance(comment_id, int):
        payload["comment_id"] = comment_id
    return Job(
        NOTICE_KIND,
        job.owner,
        job.repo,
        job.number,
        installation_id=job.installation_id,
        head_sha=job.head_sha,
        trigger=refusal.work,
        payload=payload,
        author=job.author,
    )


def _waiting_review(conn: sqlite3.Connection, job: Job) -> int | None:
    row = conn.execute(
        """SELECT id FROM queue_jobs WHERE state = 'waiting' AND kind = 'review'
        AND owner = ? AND repo = ? AND number = ?""",
        (job.owner, job.repo, job.number),
    ).fetchone()
    return None if row is None else int(row["id"])


def _insert(conn: sqlite3.Connection, job: Job, delivery_id: str | None, now: float) -> int:
    """Store a job, coalescing a review into its PR's waiting review (reset as a fresh job)."""
    payload = json.dumps(dict(job.payload), sort_keys=True, separators=(",", ":"), allow_nan=False)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"job payload is {len(payload.encode())} bytes, over {MAX_PAYLOAD_BYTES}")
    values: tuple[object, ...] = (job.installation_id, job.head_sha, job.trigger, job.tier_hint)
    values += (payload, delivery_id, job.author, now, now)
    if job.kind == COALESCING_KIND:
        waiting = _waiting_review(conn, job)
        if waiting is not None:
            conn.execute(
                """UPDATE queue_jobs SET installation_id = ?, head_sha = ?, trigger = ?,
                tier_hint = ?, payload = ?, delivery_id = ?, author = ?, updated_at = ?,
                run_after = ?, attempts = 0, error = NULL, failing_since = NULL WHERE id = ?""",
                (*values, waiting),
            )
            return waiting
    cursor = conn.execute(
        """INSERT INTO queue_jobs (installation_id, head_sha, trigger, tier_hint, payload,
        delivery_id, author, updated_at, run_after, kind, owner, repo, number, state, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?)""",
        (*values, job.kind, job.owner, job.repo, job.number, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _duration(seconds: float) -> str:
    """A span in words for an error message: "45 s", "12 min", "2.0 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _job(row: sqlite3.Row) -> QueuedJob:
    """A Job from its row: the columns carry the fields' names; the payload is JSON text."""
    values = {f.name: row[f.name] for f in fields(QueuedJob)}
    return QueuedJob(**values | {"payload": json.loads(row["payload"])})
