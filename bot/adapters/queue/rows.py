"""What the queue hands out: a stored job (its row), what `admit` did, a held delivery."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields

from bot.core.caps import Refusal
from bot.core.job import Job


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


def row_job(row: sqlite3.Row) -> QueuedJob:
    """A Job from its row: the columns carry the fields' names; the payload is JSON text."""
    values = {f.name: row[f.name] for f in fields(QueuedJob)}
    return QueuedJob(**values | {"payload": json.loads(row["payload"])})
