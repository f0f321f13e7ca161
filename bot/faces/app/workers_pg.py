"""`tierbot worker`: procrastinate workers that run the PostgreSQL queue's jobs.

One process builds its services once (the local model is loaded once) and runs up to
`concurrency` jobs at once as asyncio tasks, so on the `local` queue ExLlamaV2 batches their
generations. procrastinate holds every pull request's `lock` while its job runs (one job per PR
at a time, across all workers) and fetches with `FOR UPDATE SKIP LOCKED`.

Failures: a transient one (`Retry`) is tried again after about 10 s, 40 s, 160 s, ... (at most 15
minutes, with jitter, never before the time the service gave), up to `max_attempts` runs; any
other failure, and the last transient one, ends the job "failed" and tells the pull request why.
A worker that dies mid-job is noticed by the others (checked every `stalled_after / 2`
seconds), which put its jobs back in line: its heartbeat is `stalled_after` seconds old and the
session-level advisory lock its process holds on a connection of its own (keyed by its
procrastinate worker id) is free, which PostgreSQL makes so the moment the process is gone.
A live worker whose heartbeat is late (its event loop busy) keeps its jobs; one silent for
HUNG_FACTOR times `stalled_after` is taken for hung and loses them all the same.

Periodic tasks, deferred once per tick however many workers run: feedback collection every hour
and a daily prune of finished jobs and old deliveries (on the `default` queue). The budget needs
no roll-over task: the month to date is read from the ledger at each decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final

import procrastinate
import psycopg
import structlog
from procrastinate.exceptions import ProcrastinateException
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job as ProcrastinateJob
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from bot.adapters.jobs import TASK, args_job, connect_url
from bot.adapters.metrics import JOB_SECONDS, JOBS
from bot.adapters.queue.schema import BACKOFF_FACTOR, MAX_BACKOFF_SECONDS
from bot.adapters.settings import Settings
from bot.core.job import Job
from bot.faces.app.parts import collect_recent_feedback
from bot.faces.app.scaleout import build_parts, close_services, services_for
from bot.pipeline.commands import report_failure, run
from bot.pipeline.services import Retry, Services

log = structlog.get_logger("tierbot.worker")
MAX_ATTEMPTS: Final = 8
STALLED_AFTER_SECONDS: Final = 30.0
PRUNE_AFTER_SECONDS: Final = 14 * 24 * 3600.0
FEEDBACK_CRON: Final = "7 * * * *"
PRUNE_CRON: Final = "23 4 * * *"
HUNG_FACTOR: Final = 10
LIVENESS_LOCKS: Final = 0x7462  # the advisory locks' first key: b"tb"


class Liveness:
    """The advisory locks that say a worker process is alive (see the module docstring): held
    on one connection for the process's life, tried by the others."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.held: set[int] = set()

    async def open(self) -> None:
        """Connect; the locks live as long as this connection."""
        self.conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)

    async def close(self) -> None:
        """Disconnect, freeing the locks."""
        if self.conn is not None:
            await self.conn.close()

    async def hold(self, worker_id: int | None) -> None:
        """Hold this process's lock for its procrastinate worker id (once)."""
        if worker_id is None or worker_id in self.held or self.conn is None:
            return
        await self.conn.execute("SELECT pg_advisory_lock(%s, %s)", (LIVENESS_LOCKS, worker_id))
        self.held.add(worker_id)

    async def gone(self, worker_id: int | None) -> bool:
        """Whether the worker's process is gone (its lock is free; no worker id: unknown, so
        gone, as procrastinate counts it)."""
        if worker_id is None:
            return True
        if worker_id in self.held or self.conn is None:
            return False
        cursor = await self.conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LIVENESS_LOCKS, worker_id)
        )
        row = await cursor.fetchone()
        if row is None or not row[0]:
            return False
        await self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LIVENESS_LOCKS, worker_id))
        return True


class JobRetry(BaseRetryStrategy):
    """Retry a transient failure (`Retry`) with a capped exponential backoff and jitter, never
    before the `retry_at` the service gave; at most `max_attempts` runs in all."""

    def __init__(
        self,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        base_seconds: float = 10.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.max_attempts = max_attempts
        self.base_seconds = base_seconds
        self.jitter = jitter

    def get_retry_decision(
        self, *, exception: BaseException, job: ProcrastinateJob
    ) -> RetryDecision | None:
        """When to run the job again, or None to end it failed."""
        if not isinstance(exception, Retry) or job.attempts + 1 >= self.max_attempts:
            return None
        ceiling = min(self.base_seconds * BACKOFF_FACTOR**job.attempts, MAX_BACKOFF_SECONDS)
        at = time.time() + ceiling * (0.5 + 0.5 * self.jitter())
        if exception.retry_at is not None:
            at = max(at, exception.retry_at)
        return RetryDecision(retry_at=datetime.fromtimestamp(at, UTC))


def register(
    app: procrastinate.App, services: Services, retry: JobRetry, liveness: Liveness
) -> None:
    """Register tierbot's tasks on `app`: the job runner and the periodic tasks."""
    metrics = services.metrics

    def count(kind: str, outcome: str) -> None:
        if metrics is not None:
            metrics.inc(JOBS, {"kind": kind, "outcome": outcome})

    @app.task(name=TASK, pass_context=True, retry=retry)
    async def run_job(context: JobContext, job: dict[str, Any], queued_at: float) -> str:
        await liveness.hold(context.job.worker_id)
        work, queued = args_job({"job": job, "queued_at": queued_at})
        pull = f"{work.owner}/{work.repo}#{work.number}"
        started = time.monotonic()
        try:
            outcome = str(await run(work, services, queued_at=queued))
        except Retry as exc:
            if retry.get_retry_decision(exception=exc, job=context.job) is not None:
                count(work.kind, "waiting")
                log.warning("job failed; it will be retried", job=context.job.id, error=str(exc))
                raise
            tries = context.job.attempts + 1
            await _tell(work, services, f"{exc}; gave up after {tries} attempts", context)
            count(work.kind, "failed")
            raise
        except Exception as exc:  # any bug in one job must not kill the worker
            log.exception("job failed", job=context.job.id, kind=work.kind, pull=pull)
            await _tell(work, services, f"{type(exc).__name__}: {exc}", context)
            count(work.kind, "failed")
            raise
        finally:
            if metrics is not None:
                elapsed = time.monotonic() - started
                metrics.observe(JOB_SECONDS, {"kind": work.kind}, elapsed)
        log.info("job done", job=context.job.id, outcome=outcome, pull=pull)
        count(work.kind, "done")
        return outcome

    @app.periodic(cron=FEEDBACK_CRON, periodic_id="feedback")
    @app.task(name="tierbot.feedback", queue="default")
    async def feedback(timestamp: int) -> int:
        new = await collect_recent_feedback(services)
        log.info("feedback collected", new=new)
        return new

    @app.periodic(cron=PRUNE_CRON, periodic_id="prune")
    @app.task(name="tierbot.prune", queue="default")
    async def prune(timestamp: int) -> int:
        pushes = services.pushes
        prune_old = getattr(pushes, "prune", None)
        if prune_old is None:
            return 0
        pruned = int(await asyncio.to_thread(prune_old, PRUNE_AFTER_SECONDS))
        log.info("old jobs and deliveries pruned", rows=pruned)
        return pruned

    del run_job, feedback, prune  # registered on the app; nothing else calls them


async def _tell(work: Job, services: Services, reason: str, context: JobContext) -> None:
    """Tell the pull request that its job failed for good; log when even that fails."""
    try:
        await report_failure(work, services, reason)
    except Exception:  # GitHub may still be down: the log keeps the failure
        log.exception(
            "a job failed for good and the pull request could not be told",
            job=context.job.id,
            pull=f"{work.owner}/{work.repo}#{work.number}",
            reason=reason,
        )


async def retry_stalled(app: procrastinate.App, liveness: Liveness, stalled_after: float) -> int:
    """Put back in line the jobs of dead workers (see the module docstring); how many."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after)
    hung = {
        job.id
        for job in await app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=stalled_after * HUNG_FACTOR
        )
    }
    retried = 0
    for job in stalled:
        if job.id not in hung and not await liveness.gone(job.worker_id):
            continue  # alive, its heartbeat late
        try:
            await app.job_manager.retry_job(job)
        except ProcrastinateException:  # another worker took it back first
            continue
        log.warning("a stalled job is back in line", job=job.id, task=job.task_name)
        retried += 1
    return retried


async def _reap(app: procrastinate.App, liveness: Liveness, stalled_after: float) -> None:
    while True:
        await asyncio.sleep(stalled_after / 2)
        try:
            await retry_stalled(app, liveness, stalled_after)
        except Exception:  # the database may be restarting: try again next time
            log.exception("could not look for stalled jobs")


async def run_worker(
    settings: Settings,
    *,
    queues: Iterable[str],
    concurrency: int,
    stalled_after: float = STALLED_AFTER_SECONDS,
    transport: Any = None,
) -> None:
    """Run jobs from `queues` until stopped (SIGINT or SIGTERM: running jobs finish first)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    parts = await build_parts(settings, transport=transport)
    services = services_for(settings, parts)
    connector = procrastinate.PsycopgConnector(
        conninfo=connect_url(settings.database_url), min_size=1, max_size=concurrency + 4
    )
    app = procrastinate.App(connector=connector)
    liveness = Liveness(connect_url(settings.database_url))
    register(app, services, JobRetry(), liveness)
    name = f"{socket.gethostname()}:{os.getpid()}"
    try:
        await liveness.open()
        async with app.open_async():
            reaper = asyncio.create_task(
                _reap(app, liveness, stalled_after), name="tierbot-stalled"
            )
            try:
                await app.run_worker_async(
                    queues=list(queues),
                    concurrency=concurrency,
                    name=name,
                    update_heartbeat_interval=max(stalled_after / 6, 0.2),
                    stalled_worker_timeout=stalled_after,
                    shutdown_graceful_timeout=settings.lease_seconds,
                )
            finally:
                reaper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reaper
    finally:
        await liveness.close()
        await close_services(services)
        await parts.aclose()
