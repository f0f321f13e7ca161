"""The SQLite queue's workers: claim jobs from the queue, run them, and hold their leases meanwhile.

They run as tasks on one event loop: `tierbot serve`'s worker process
(bot.faces.app.worker_process), or beside the webhook app where one process does both (tests,
`tierbot replay`).

Each worker loops: claim a job (a blocking SQLite call, so in a thread), run it through the
pipeline while a side task renews the lease, then mark it done, or failed (with a retry later
when the failure is transient: the queue backs off, and gives up a bounded time after the first
failure). A job whose worker died is taken up again when its lease runs out. When a job fails
for good, the pull request is told so; when even that fails (GitHub still unreachable), the
failure is logged as an error with the reason, so it is never lost silently.

`sleep` is injectable: tests run the workers on a fast clock (the lease renewal and the idle
poll both wait through it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from bot.adapters.metrics import JOB_SECONDS
from bot.adapters.queue import LeaseLostError, QueuedJob
from bot.core.job import Job
from bot.pipeline.commands import report_failure, run
from bot.pipeline.request import Outcome
from bot.pipeline.services import Retry, Services

log = structlog.get_logger("tierbot.worker")


class Queue(Protocol):
    """What the workers need of a job queue: claim a job under a lease, renew the lease, and end
    the job as done or failed (bot.adapters.queue.JobQueue is one)."""

    def claim(self, worker: str, *, lease_seconds: float) -> Any: ...
    def renew(self, job_id: int, worker: str, *, lease_seconds: float) -> bool: ...
    def complete(self, job_id: int, worker: str, *, outcome: str) -> Any: ...
    def fail(
        self,
        job_id: int,
        worker: str,
        *,
        error: str,
        retryable: bool,
        retry_at: float | None = None,
    ) -> str: ...
    def get(self, job_id: int) -> Any: ...


class Runner(Protocol):
    """What carries out a claimed job (bot.pipeline.commands.run); `queued_at` is when the
    queue took it, which a command's review covers."""

    def __call__(
        self, job: Job, services: Services, *, queued_at: float | None = None
    ) -> Awaitable[Outcome]: ...


@dataclass
class Workers:
    """`concurrency` workers sharing one queue; `wake()` after enqueueing to skip the poll wait."""

    queue: Queue
    services: Services
    concurrency: int = 2
    lease_seconds: float = 60.0
    poll_seconds: float = 2.0
    runner: Runner = run
    on_outcome: Callable[[str, str, str], None] | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._name = f"{socket.gethostname()}:{os.getpid()}"

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(f"{self._name}:{i}")) for i in range(self.concurrency)
        ]

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self, worker: str = "once") -> bool:
        """Claim and run one job if there is one; returns whether a job ran (for tests, replay)."""
        job = await asyncio.to_thread(self.queue.claim, worker, lease_seconds=self.lease_seconds)
        if job is None:
            return False
        await self._handle(job, worker)
        return True

    async def _loop(self, worker: str) -> None:
        while not self._stopping:
            ran = await self.run_once(worker)
            if not ran:
                self._wake.clear()
                await self._idle()

    async def _idle(self) -> None:
        """Wait for `wake()` or `poll_seconds`, whichever comes first."""
        woken = asyncio.ensure_future(self._wake.wait())
        slept = asyncio.ensure_future(self.sleep(self.poll_seconds))
        try:
            await asyncio.wait({woken, slept}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (woken, slept):
                waiter.cancel()

    async def _handle(self, job: QueuedJob, worker: str) -> None:
        renewer = asyncio.create_task(self._renew(job.id, worker))
        started = time.monotonic()
        try:
            # When it was queued, for a command: what it asks about is the pull request then.
            done = await self.runner(job, self.services, queued_at=job.created_at)
            outcome = str(done)
        except Retry as exc:
            await self._failed(job, worker, str(exc), retryable=True, retry_at=exc.retry_at)
        except LeaseLostError:
            log.warning("lease lost while running; another worker has the job", job=job.id)
        except Exception as exc:  # any bug in one job must not kill the worker
            log.exception("job failed", job=job.id, kind=job.kind)
            await self._failed(job, worker, f"{type(exc).__name__}: {exc}", retryable=False)
        else:
            try:
                await asyncio.to_thread(self.queue.complete, job.id, worker, outcome=outcome)
            except LeaseLostError:
                log.warning("lease lost before the job was marked done", job=job.id)
                return
            log.info("job done", job=job.id, outcome=outcome)
            self._record(job.kind, "done", outcome)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            if self.services.metrics is not None:
                elapsed = time.monotonic() - started
                self.services.metrics.observe(JOB_SECONDS, {"kind": job.kind}, elapsed)

    async def _failed(
        self,
        job: QueuedJob,
        worker: str,
        error: str,
        *,
        retryable: bool,
        retry_at: float | None = None,
    ) -> None:
        try:
            state = await asyncio.to_thread(
                functools.partial(
                    self.queue.fail,
                    job.id,
                    worker,
                    error=error,
                    retryable=retryable,
                    retry_at=retry_at,
                )
            )
        except LeaseLostError:
            log.warning("lease lost before the failure was recorded", job=job.id)
            return
        log.warning("job failed", job=job.id, error=error, state=state)
        self._record(job.kind, state, error)
        if state == "failed":
            if retryable:  # the queue gave up: its error says after how many tries and how long
                final = await asyncio.to_thread(self.queue.get, job.id)
                error = getattr(final, "error", None) or error
            try:
                await report_failure(job, self.services, error)
            except Exception:  # GitHub may still be down: the log keeps the failure
                log.exception(
                    "a job failed for good and the pull request could not be told",
                    job=job.id,
                    pull=f"{job.owner}/{job.repo}#{job.number}",
                    reason=error,
                )

    async def _renew(self, job_id: int, worker: str) -> None:
        while True:
            await self.sleep(self.lease_seconds / 3)
            held = await asyncio.to_thread(
                self.queue.renew, job_id, worker, lease_seconds=self.lease_seconds
            )
            if not held:
                log.warning("lease lost", job=job_id, worker=worker)
                return

    def _record(self, kind: str, state: str, detail: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(kind, state, detail)
