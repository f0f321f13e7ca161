"""What a delivery's jobs do to the stored ones: the per-pull-request command limit, the caps on
accounts without write access and their notices, and the coalescing of a pull request's
waiting review; all within the caller's transaction."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from bot.adapters.queue.schema import COALESCING_KIND, MAX_PAYLOAD_BYTES, NOTICE_KIND
from bot.core.caps import Caps, Refusal
from bot.core.job import CAPPED_WORK, Job


def check_command_limit(limit: tuple[int, float]) -> None:
    """Refuse a command limit that is not (at least 1 command, a positive window in seconds)."""
    most, window = limit
    if isinstance(most, bool) or not isinstance(most, int) or most < 1 or not window > 0:
        raise ValueError(
            f"command limit must be (max commands >= 1, window seconds > 0), got {limit!r}"
        )


def recent_commands(conn: sqlite3.Connection, job: Job, since: float) -> int:
    """How many command jobs of the job's PR were created after `since`, in any state."""
    row = conn.execute(
        """SELECT count(*) FROM queue_jobs WHERE kind = 'command'
        AND owner = ? AND repo = ? AND number = ? AND created_at > ?""",
        (job.owner, job.repo, job.number, since),
    ).fetchone()
    return int(row[0])


def capped(conn: sqlite3.Connection, job: Job, caps: Caps, now: float) -> Refusal | None:
    """The cap that refuses `job`, or None: only counted work by an author is capped, and a
    review that replaces its PR's waiting review adds no work."""
    work = CAPPED_WORK.get(job.kind)
    if work is None or job.author is None:
        return None
    if job.kind == COALESCING_KIND and waiting_review(conn, job) is not None:
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


def notice(conn: sqlite3.Connection, job: Job, refusal: Refusal, since: float) -> Job | None:
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


def waiting_review(conn: sqlite3.Connection, job: Job) -> int | None:
    row = conn.execute(
        """SELECT id FROM queue_jobs WHERE state = 'waiting' AND kind = 'review'
        AND owner = ? AND repo = ? AND number = ?""",
        (job.owner, job.repo, job.number),
    ).fetchone()
    return None if row is None else int(row["id"])


def insert(conn: sqlite3.Connection, job: Job, delivery_id: str | None, now: float) -> int:
    """Store a job, coalescing a review into its PR's waiting review (reset as a fresh job)."""
    payload = json.dumps(dict(job.payload), sort_keys=True, separators=(",", ":"), allow_nan=False)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"job payload is {len(payload.encode())} bytes, over {MAX_PAYLOAD_BYTES}")
    values: tuple[object, ...] = (job.installation_id, job.head_sha, job.trigger, job.tier_hint)
    values += (payload, delivery_id, job.author, now, now)
    if job.kind == COALESCING_KIND:
        waiting = waiting_review(conn, job)
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


def duration(seconds: float) -> str:
    """A span in words for an error message: "45 s", "12 min", "2.0 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
