"""The admission rules' `Book` on PostgreSQL: the counts they read (`tierbot_admitted`) and the
insert they make, a procrastinate job deferred in the caller's transaction.

Which queue a job goes to: reviews and the commands that ask a model (`/review`, `/ask`) go to
`local` when this deployment has a local model and the job does not ask for the frontier tier,
else to `frontier`; notices, replies and the other commands to the light `default` queue. Every
job of a pull request carries the `lock` `pr:owner/repo#number`, so one runs at a time; a review
carries the `queueing_lock` `review:owner/repo#number`, so at most one waits: a new review
replaces the waiting one's arguments (latest head wins, the job keeps its place in line).
"""

from __future__ import annotations

import json
from typing import Any, Final

import psycopg
from psycopg.types.json import Jsonb

from bot.adapters.queue.admission import payload_text
from bot.adapters.queue.schema import COALESCING_KIND
from bot.core.job import Job

TASK: Final = "tierbot.job"
MODEL_COMMANDS: Final = frozenset({"review", "ask"})


def queue_for(job: Job, *, local: bool) -> str:
    """The procrastinate queue of a job (see the module docstring)."""
    asks_model = job.kind == COALESCING_KIND or (
        job.kind == "command" and job.payload.get("command") in MODEL_COMMANDS
    )
    if not asks_model:
        return "default"
    wants_frontier = job.tier_hint == "frontier" or "--frontier" in job.payload.get("args", [])
    return "local" if local and not wants_frontier else "frontier"


def lock_for(job: Job) -> str:
    """The lock every job of a pull request carries: one runs at a time."""
    return f"pr:{job.owner}/{job.repo}#{job.number}"


def queueing_lock_for(job: Job) -> str | None:
    """The queueing lock of a review: at most one waits per pull request."""
    if job.kind != COALESCING_KIND:
        return None
    return f"review:{job.owner}/{job.repo}#{job.number}"


def job_args(job: Job, queued_at: float) -> dict[str, Any]:
    """The task's arguments: the job's fields (its payload checked for size) and when queued."""
    fields = {
        "kind": job.kind,
        "owner": job.owner,
        "repo": job.repo,
        "number": job.number,
        "installation_id": job.installation_id,
        "head_sha": job.head_sha,
        "trigger": job.trigger,
        "tier_hint": job.tier_hint,
        "payload": json.loads(payload_text(job)),
        "author": job.author,
    }
    return {"job": fields, "queued_at": queued_at}


def args_job(args: dict[str, Any]) -> tuple[Job, float]:
    """The job and its queue time back from a task's arguments."""
    fields = dict(args["job"])
    return Job(**fields), float(args["queued_at"])


class PgBook:
    """The rules' counts and inserts on an open psycopg transaction."""

    def __init__(self, conn: psycopg.Connection[Any], *, local: bool) -> None:
        self.conn = conn
        self.local = local

    def recent_commands(self, job: Job, since: float) -> int:
        row = self.conn.execute(
            """SELECT count(*) FROM tierbot_admitted WHERE kind = 'command'
            AND owner = %s AND repo = %s AND number = %s AND created_at > %s""",
            (job.owner, job.repo, job.number, since),
        ).fetchone()
        return int(row[0]) if row else 0

    def work_counts(
        self, job: Job, kinds: list[str], since: float, enough: tuple[int, int]
    ) -> tuple[int, int]:
        recent = "owner = %s AND repo = %s AND kind = ANY(%s) AND created_at > %s"
        row = self.conn.execute(
            f"""SELECT
                (SELECT count(*) FROM (SELECT 1 FROM tierbot_admitted
                    WHERE {recent} AND author IS NOT NULL LIMIT %s) AS by_repo),
                (SELECT count(*) FROM (SELECT 1 FROM tierbot_admitted
                    WHERE {recent} AND author = %s LIMIT %s) AS by_author)""",  # noqa: S608
            (
                *(job.owner, job.repo, kinds, since, enough[0]),
                *(job.owner, job.repo, kinds, since, job.author, enough[1]),
            ),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def notice_sent(self, job: Job, work: str, since: float) -> bool:
        row = self.conn.execute(
            """SELECT 1 FROM tierbot_admitted WHERE owner = %s AND repo = %s AND kind = 'notice'
            AND author = %s AND trigger = %s AND created_at > %s LIMIT 1""",
            (job.owner, job.repo, job.author, work, since),
        ).fetchone()
        return row is not None

    def waiting_review(self, job: Job) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = %s AND status = 'todo'",
            (queueing_lock_for(job),),
        ).fetchone()
        return row is not None

    def insert(self, job: Job, delivery_id: str | None, now: float) -> int:
        """Defer the job; a review replaces its PR's waiting review's arguments instead."""
        args = Jsonb(job_args(job, now))
        queueing_lock = queueing_lock_for(job)
        while True:
            if queueing_lock is not None:
                row = self.conn.execute(
                    """UPDATE procrastinate_jobs SET args = %s, scheduled_at = NULL, attempts = 0
                    WHERE queueing_lock = %s AND status = 'todo' RETURNING id""",
                    (args, queueing_lock),
                ).fetchone()
                if row is not None:
                    return int(row[0])
            try:
                with self.conn.transaction():  # a savepoint: a racing review may win the lock
                    row = self.conn.execute(
                        """SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW(
                            %s, %s, 0, %s, %s, %s, NULL)]::procrastinate_job_to_defer_v1[]))""",
                        (
                            queue_for(job, local=self.local),
                            TASK,
                            lock_for(job),
                            queueing_lock,
                            args,
                        ),
                    ).fetchone()
            except psycopg.errors.UniqueViolation:
                continue  # another transaction deferred this PR's review: replace it instead
            assert row is not None
            job_id = int(row[0])
            self.conn.execute(
                """INSERT INTO tierbot_admitted (job_id, kind, owner, repo, number, author,
                trigger, delivery_id, created_at) VALUES (%(id)s, %(kind)s, %(owner)s, %(repo)s,
                %(number)s, %(author)s, %(trigger)s, %(delivery)s, %(now)s)""",
                {"id": job_id, "kind": job.kind, "owner": job.owner, "repo": job.repo}
                | {"number": job.number, "author": job.author, "trigger": job.trigger}
                | {"delivery": delivery_id, "now": now},
            )
            return job_id
