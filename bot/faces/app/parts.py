"""What the App's webhook side and its workers are made of, wherever they run: the parts both
use (`Base`), the workers and their services (`workers_for`), the periodic collection of feedback,
and the heap freeze that keeps the garbage collector's full passes short in a long-lived process.
bot.faces.app.server puts them in one process or two; bot.faces.app.worker_process runs the
workers' side in a child process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from bot.adapters.github import GitHubApp, PullRef
from bot.adapters.ledger import Ledger
from bot.adapters.metrics import JOBS, Metrics
from bot.adapters.models.backends import backends_for, close_backends
from bot.adapters.prices import PriceTable
from bot.adapters.queue import JobQueue
from bot.adapters.reachability import Reachability
from bot.adapters.settings import Settings, SettingsError
from bot.faces.app.github_app import Sleep, start_github_app
from bot.faces.app.worker import Workers
from bot.pipeline.feedback import collect_feedback
from bot.pipeline.services import GitHubClient, Services

log = structlog.get_logger("tierbot.server")
FEEDBACK_WINDOW = timedelta(days=14)  # PRs reviewed this recently get their feedback collected


@dataclass
class Base:
    """What the webhook side and the workers of one machine both use: prices, the App's GitHub
    client and whether GitHub answered lately, the metrics, the ledger and the SQLite queue."""

    prices: PriceTable
    github_app: GitHubApp
    github: Reachability
    metrics: Metrics
    ledger: Ledger
    queue: JobQueue

    async def aclose(self) -> None:
        """Release the GitHub connections, the queue's and the ledger's."""
        await self.github_app.aclose()
        self.queue.close()
        self.ledger.close()


async def build_base(
    settings: Settings,
    *,
    transport: Any = None,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
    migrate: bool = True,
) -> Base:
    """The shared parts, or SettingsError naming what is missing or refused (an unknown frontier
    model stops the start here, not at the first review)."""
    prices = PriceTable.for_settings(settings.prices_file)
    prices.require(settings.frontier_model)
    github_app, github = await start_github_app(
        settings, transport=transport, clock=clock, sleep=sleep
    )
    ledger = Ledger(settings.database_url)
    if migrate:
        await asyncio.to_thread(ledger.migrate)
    queue = JobQueue(
        settings.database_path, clock=clock, give_up_seconds=settings.job_give_up_seconds
    )
    return Base(prices, github_app, github, Metrics(), ledger, queue)


def app_services(
    settings: Settings,
    github_app: GitHubApp,
    prices: PriceTable,
    metrics: Metrics,
    ledger: Ledger,
    pushes: Any,
) -> Services:
    """The services the App's jobs use, on either queue (`pushes`): the model backends (built
    here: a local model is loaded only where jobs run), GitHub as the App's installations."""
    backends, models = backends_for(settings)

    async def github_for(installation_id: int | None) -> GitHubClient:
        if installation_id is None:
            raise SettingsError("a job without an installation cannot reach GitHub as the App")
        return await github_app.installation(installation_id)

    return Services(settings, prices, backends, models, github_for, metrics, ledger, pushes=pushes)


def workers_for(settings: Settings, base: Base, *, sleep: Sleep = asyncio.sleep) -> Workers:
    """The workers that run the SQLite queue's jobs in this process, with their services."""
    metrics = base.metrics
    services = app_services(
        settings, base.github_app, base.prices, metrics, base.ledger, base.queue
    )
    return Workers(
        base.queue,
        services,
        concurrency=settings.workers,
        lease_seconds=settings.lease_seconds,
        on_outcome=lambda kind, state, _: metrics.inc(JOBS, {"kind": kind, "outcome": state}),
        sleep=sleep,
    )


@contextlib.asynccontextmanager
async def working(workers: Workers, feedback_interval: float) -> AsyncIterator[None]:
    """The workers and the periodic feedback collection running for the block; then the
    collection cancelled, the workers stopped and their model backends closed."""
    workers.start()
    feedback = asyncio.create_task(
        feedback_loop(workers.services, feedback_interval), name="tierbot-feedback"
    )
    try:
        yield
    finally:
        feedback.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feedback
        await workers.stop()
        await close_backends(workers.services.backends)


async def collect_recent_feedback(services: Services, *, now: datetime | None = None) -> int:
    """One pass of the periodic feedback collection: for each pull request reviewed in the last
    FEEDBACK_WINDOW by an installation, that installation's client records the reactions and
    resolved threads on the bot's comments. A PR that fails is logged and skipped; one reviewed
    without an installation (the CLI) is left out. Returns the number of new records."""
    ledger = services.ledger
    if ledger is None:
        return 0
    since = (now or datetime.now(UTC)) - FEEDBACK_WINDOW
    pulls = await asyncio.to_thread(lambda: ledger.recent_pulls(since=since))
    new = 0
    for repo, number, installation_id in pulls:
        if installation_id is None:
            continue  # reviewed outside the App (the CLI): no installation to ask as
        owner, _, name = repo.partition("/")
        ref = PullRef(owner, name, number)
        try:
            github = await services.github_for(installation_id)
            new += await collect_feedback(github, ref, services, installation_id)
        except Exception:  # one PR (a removed installation, a deleted repo) never stops the pass
            log.exception("feedback collection failed", pull=str(ref), installation=installation_id)
    return new


async def feedback_loop(services: Services, interval: float) -> None:
    """Run `collect_recent_feedback` every `interval` seconds, the first time one interval after
    the start, until cancelled; a failed pass is logged and the loop goes on."""
    while True:
        await asyncio.sleep(interval)
        try:
            new = await collect_recent_feedback(services)
            log.info("feedback collected", new=new)
        except Exception:
            log.exception("feedback collection failed")


def freeze_heap() -> None:
    """Leave what the start built (modules, their classes and schemas: most of the heap) out of
    the garbage collector's full passes. CPython's oldest-generation pass walks every tracked
    object, and deliveries allocate enough that one runs every few seconds under load: with the
    heap of imported modules it took 150 ms (measured at 200 deliveries a second), holding the
    GIL, so every request in flight waited for it. Objects still referenced are freed as usual.
    https://docs.python.org/3/library/gc.html#gc.freeze"""
    gc.collect()
    gc.freeze()


def then_freeze_once(
    on_outcome: Callable[[str, str, str], None] | None,
) -> Callable[[str, str, str], None]:
    """`on_outcome`, then `freeze_heap` once, after the first job: the first review imports what
    reviews need (the model SDK, the secret scanners, the Markdown checker), as much again as
    the start; without this the full passes walk it all again (140 ms measured). The freeze
    itself runs one full pass, once, on the event loop, at the end of the first job."""
    frozen = False

    def after(kind: str, state: str, detail: str) -> None:
        nonlocal frozen
        if on_outcome is not None:
            on_outcome(kind, state, detail)
        if not frozen:
            frozen = True
            freeze_heap()

    return after
