"""The webhook side of the PostgreSQL queue: deliveries recorded once across every web replica,
jobs admitted by the same rules as the SQLite queue (bot.adapters.queue.rules) and deferred to
procrastinate in the same transaction, held deliveries, and the depth for /metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from bot.adapters.jobs.book import PgBook
from bot.adapters.jobs.schema import connect_url
from bot.adapters.queue.rows import Admitted, HeldDelivery
from bot.adapters.queue.rules import admit_jobs, delivered
from bot.adapters.queue.schema import STATES
from bot.core.caps import Caps
from bot.core.job import Job

_STATE_OF = {
    "todo": "waiting",
    "doing": "running",
    "succeeded": "done",
    "failed": "failed",
    "cancelled": "failed",
    "aborted": "failed",
    "aborting": "running",
}


class PgQueue:
    """Deliveries and job admission on PostgreSQL; the same methods as the SQLite JobQueue's
    webhook side (bot.faces.app.web's WebhookQueue). `local`: whether this deployment runs a
    local model (reviews then go to the `local` queue, see bot.adapters.jobs.book). Blocking
    calls, safe from any thread: each borrows a pooled connection."""

    def __init__(
        self,
        url: str,
        *,
        local: bool = False,
        clock: Callable[[], float] = time.time,
        max_connections: int = 8,
    ) -> None:
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            connect_url(url), min_size=1, max_size=max_connections, open=True
        )
        self._local = local
        self._clock = clock

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()

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
        """Record the delivery and admit its jobs in one transaction; None for a delivery id any
        replica recorded already (see bot.adapters.queue.JobQueue.admit)."""
        jobs, pull = delivered(delivery_id, jobs, command_limit)
        with self._pool.connection() as conn, conn.transaction():
            now = self._clock()
            inserted = conn.execute(
                """INSERT INTO tierbot_deliveries
                (delivery_id, event, action, received_at, owner, repo, number)
                VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                (delivery_id, event, action, now, *pull),
            ).rowcount
            if not inserted:
                return None
            book = PgBook(conn, local=self._local)
            return admit_jobs(book, jobs, delivery_id, now, command_limit=command_limit, caps=caps)

    def accept(
        self, delivery_id: str, event: str, action: str | None, jobs: Iterable[Job]
    ) -> list[int] | None:
        """`admit` without limits: the ids stored, or None for a redelivery."""
        admitted = self.admit(delivery_id, event, action, jobs)
        return None if admitted is None else admitted.ids

    def enqueue(self, job: Job) -> int:
        """Defer one job outside any delivery; a review replaces its PR's waiting review."""
        with self._pool.connection() as conn, conn.transaction():
            return PgBook(conn, local=self._local).insert(job, None, self._clock())

    def pushed_since(self, owner: str, repo: str, number: int, since: float) -> bool:
        """Whether a delivery asking to review the pull request came after `since`."""
        with self._pool.connection() as conn:
            row = conn.execute(
                """SELECT 1 FROM tierbot_deliveries WHERE owner = %s AND repo = %s
                AND number = %s AND received_at > %s LIMIT 1""",
                (owner, repo, number, since),
            ).fetchone()
        return row is not None

    def depth(self) -> dict[str, int]:
        """How many jobs are in each of the SQLite queue's states (procrastinate's statuses
        mapped onto them), for /metrics."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status"
            ).fetchall()
        depth = dict.fromkeys(STATES, 0)
        for status, count in rows:
            state = _STATE_OF.get(str(status), "failed")
            depth[state] += int(count)
        return depth

    def hold(self, delivery_id: str, event: str, body: bytes, *, max_held: int) -> bool | None:
        """Keep a delivery until the App's login is known (see JobQueue.hold)."""
        if not delivery_id:
            raise ValueError("delivery id is empty")
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("LOCK TABLE tierbot_held IN SHARE ROW EXCLUSIVE MODE")
            seen = conn.execute(
                "SELECT 1 FROM tierbot_deliveries WHERE delivery_id = %s UNION ALL "
                "SELECT 1 FROM tierbot_held WHERE delivery_id = %s",
                (delivery_id, delivery_id),
            ).fetchone()
            if seen is not None:
                return False
            count = conn.execute("SELECT count(*) FROM tierbot_held").fetchone()
            if count is not None and count[0] >= max_held:
                return None
            conn.execute(
                "INSERT INTO tierbot_held (delivery_id, event, body, received_at) "
                "VALUES (%s, %s, %s, %s)",
                (delivery_id, event, body, self._clock()),
            )
            return True

    def held(self, limit: int = 100) -> list[HeldDelivery]:
        """The oldest held deliveries, in the order they came."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT delivery_id, event, body FROM tierbot_held ORDER BY id LIMIT %s", (limit,)
            ).fetchall()
        return [HeldDelivery(row[0], row[1], bytes(row[2])) for row in rows]

    def release(self, delivery_id: str) -> None:
        """Forget a held delivery once it was routed."""
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM tierbot_held WHERE delivery_id = %s", (delivery_id,))

    def held_count(self) -> int:
        """How many deliveries wait to be routed."""
        with self._pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM tierbot_held").fetchone()
        return 0 if row is None else int(row[0])

    def prune(self, older_than: float) -> int:
        """Delete deliveries and admitted jobs older than `older_than` seconds, with their
        procrastinate jobs once finished; how many rows went. The caps and the command limit
        count only the last hour or so, far less than what is kept."""
        cutoff = self._clock() - older_than
        with self._pool.connection() as conn, conn.transaction():
            jobs = conn.execute(
                """DELETE FROM procrastinate_jobs WHERE status IN
                ('succeeded', 'failed', 'cancelled', 'aborted') AND id IN
                (SELECT job_id FROM tierbot_admitted WHERE created_at < %s)""",
                (cutoff,),
            ).rowcount
            admitted = conn.execute(
                """DELETE FROM tierbot_admitted WHERE created_at < %s AND job_id NOT IN
                (SELECT id FROM procrastinate_jobs)""",
                (cutoff,),
            ).rowcount
            deliveries = conn.execute(
                "DELETE FROM tierbot_deliveries WHERE received_at < %s", (cutoff,)
            ).rowcount
        return jobs + admitted + deliveries
