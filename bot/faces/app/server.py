"""The GitHub App server on the embedded defaults: the webhook app, its queue and its workers.

`build` wires everything from the process settings: the App's credentials, the SQLite queue,
the model backends and prices (an unknown frontier model stops it here, not at the first
review), and in-process workers that the Starlette lifespan starts and stops, with a background
checkpoint of the SQLite file (bot.adapters.checkpointer: no webhook pays for one). `serve` runs it
under uvicorn behind bot.faces.app.listener's timeouts and connection cap; `replay` runs one saved
delivery through the same handlers and its jobs at once.

GitHub need not be reachable at start. The App's login (`<slug>[bot]`, from `GET /app`, or
TIERBOT_GITHUB_APP_SLUG) is asked for once, for a few seconds: GitHub refusing the App's
credentials stops the start, as any wrong setting does; GitHub unreachable does not. The server
then serves, queues deliveries (holding the comment deliveries whose routing reads the login,
see bot.faces.app.web) and asks again in the background, backing off to once a minute, until GitHub
answers; then it routes what it held. Jobs meanwhile fail with a transient error and are
retried by the queue.

`clock` and `sleep` are injectable, so tests can run the whole App on a fast clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette

from bot.adapters.checkpointer import Checkpointer
from bot.adapters.github import GitHubApp, PullRef
from bot.adapters.ledger import Ledger
from bot.adapters.metrics import JOBS, Metrics
from bot.adapters.models.backends import backends_for, close_backends
from bot.adapters.prices import PriceTable
from bot.adapters.queue import JobQueue
from bot.adapters.reachability import Reachability
from bot.adapters.settings import Settings, SettingsError
from bot.faces.app import listener
from bot.faces.app.events import EventSettings, route
from bot.faces.app.github_app import Sleep, learn_login, start_github_app
from bot.faces.app.web import create_app
from bot.faces.app.worker import Workers
from bot.pipeline.feedback import collect_feedback
from bot.pipeline.services import GitHubClient, Services

log = structlog.get_logger("tierbot.server")
FEEDBACK_WINDOW = timedelta(days=14)  # PRs reviewed this recently get their feedback collected


@dataclass
class Server:
    """The App on the embedded defaults, built and not yet started: the webhook app, its queue, the
    workers that run the queue's jobs, the services those jobs use, the GitHub App client and
    whether GitHub answered lately."""

    app: Starlette
    queue: JobQueue
    workers: Workers
    services: Services
    github_app: GitHubApp
    github: Reachability

    @property
    def bot_login(self) -> str | None:
        """`<slug>[bot]`, or None while GitHub has not told the slug."""
        slug = self.github_app.known_slug
        return None if slug is None else f"{slug}[bot]"


async def build(
    settings: Settings,
    *,
    transport: Any = None,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
) -> Server:
    """Everything the App needs, or SettingsError naming what is missing or refused.
    `transport`, `clock` and `sleep` (every wait: GitHub's write spacing and retries, the
    workers' polls and leases) are for tests."""
    prices = PriceTable.for_settings(settings.prices_file)
    prices.require(settings.frontier_model)
    github_app, github = await start_github_app(
        settings, transport=transport, clock=clock, sleep=sleep
    )
    assert settings.webhook_secret is not None  # start_github_app refused it missing
    backends, models = backends_for(settings)

    async def github_for(installation_id: int | None) -> GitHubClient:
        if installation_id is None:
            raise SettingsError("a job without an installation cannot reach GitHub as the App")
        return await github_app.installation(installation_id)

    metrics = Metrics()
    ledger = Ledger(settings.database_url)
    await asyncio.to_thread(ledger.migrate)
    queue = JobQueue(
        settings.database_path, clock=clock, give_up_seconds=settings.job_give_up_seconds
    )
    services = Services(
        settings, prices, backends, models, github_for, metrics, ledger, pushes=queue
    )
    workers = Workers(
        queue,
        services,
        concurrency=settings.workers,
        lease_seconds=settings.lease_seconds,
        on_outcome=lambda kind, state, _: metrics.inc(JOBS, {"kind": kind, "outcome": state}),
        sleep=sleep,
    )

    checkpointer = Checkpointer(settings.database_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        workers.start()
        tasks = [
            asyncio.create_task(
                feedback_loop(services, settings.feedback_interval_seconds),
                name="tierbot-feedback",
            ),
            asyncio.create_task(
                learn_login(github_app, app.state.admit_held, sleep=sleep), name="tierbot-login"
            ),
            # Real time, not `sleep`: a fast test clock would make it spin.
            asyncio.create_task(checkpointer.run(), name="tierbot-checkpoint"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await workers.stop()
            await close_backends(backends)
            await github_app.aclose()
            queue.close()
            ledger.close()

    def bot_login() -> str | None:
        slug = github_app.known_slug
        return None if slug is None else f"{slug}[bot]"

    app = create_app(
        secret=settings.webhook_secret,
        queue=queue,
        bot_login=bot_login,
        event_settings=EventSettings(),
        on_enqueued=workers.wake,
        metrics=metrics,
        lifespan=lifespan,
        caps=settings.caps,
        github=github,
    )
    return Server(app, queue, workers, services, github_app, github)


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


async def serve(settings: Settings, host: str, port: int) -> None:
    """Run the App under uvicorn with bot.faces.app.listener's limits (and their logging) until
    stopped."""
    limits = listener.Limits(
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        max_connections=settings.max_connections,
    )
    limits = listener.fitted(limits, listener.raise_fd_limit())
    server = await build(settings)
    _freeze_heap()
    server.workers.on_outcome = _then_freeze_once(server.workers.on_outcome)
    config = listener.config(server.app, host=host, port=port, limits=limits)
    await uvicorn.Server(config).serve()


def _freeze_heap() -> None:
    """Leave what the start built (modules, their classes and schemas: most of the heap) out of
    the garbage collector's full passes. CPython's oldest-generation pass walks every tracked
    object, and deliveries allocate enough that one runs every few seconds under load: with the
    heap of imported modules it took 150 ms (measured at 200 deliveries a second), holding the
    GIL, so every request in flight waited for it. Objects still referenced are freed as usual.
    https://docs.python.org/3/library/gc.html#gc.freeze"""
    gc.collect()
    gc.freeze()


def _then_freeze_once(
    on_outcome: Callable[[str, str, str], None] | None,
) -> Callable[[str, str, str], None]:
    """`on_outcome`, then `_freeze_heap` once, after the first job: the first review imports what
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
            _freeze_heap()

    return after


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How one job of a replayed delivery ended: its kind, its queue state, and what it did."""

    kind: str
    state: str
    detail: str

    @property
    def failed(self) -> bool:
        """The job did not do its work: it failed, waits for a retry that replay will not run,
        or finished with a failed review."""
        return self.state != "done" or self.detail.startswith("failed:")

    @property
    def reason(self) -> str:
        """Why the job did not do its work, in one line."""
        if self.state == "done":
            return f"{self.kind} job {self.detail}"
        if self.state == "failed":
            return f"{self.kind} job failed: {self.detail}"
        return (
            f"{self.kind} job failed and is {self.state} for a retry, which replay does not run: "
            f"{self.detail}"
        )


@dataclass(frozen=True, slots=True)
class Replayed:
    """A replayed delivery: what the webhook answered, and how each of its jobs ended."""

    ack: str
    jobs: tuple[JobOutcome, ...]

    @property
    def failed(self) -> JobOutcome | None:
        """The first job that did not do its work, or None when all did."""
        return next((job for job in self.jobs if job.failed), None)


async def replay(settings: Settings, payload_path: Path, event: str) -> Replayed:
    """Run one saved delivery through the webhook's routing and then its jobs, now."""
    server = await build(settings)
    payload = json.loads(payload_path.read_text(encoding="utf-8"))
    if not isinstance(payload, dict):
        raise SettingsError(f"{payload_path} does not hold a webhook payload (a JSON object)")
    bot_login = f"{await server.github_app.slug()}[bot]"  # replay runs its jobs: GitHub is needed
    routed = route(event, payload, bot_login=bot_login, settings=EventSettings())
    jobs: list[JobOutcome] = []
    server.workers.on_outcome = lambda kind, state, detail: jobs.append(
        JobOutcome(kind, state, detail)
    )
    delivery = f"replay-{uuid.uuid4()}"
    await asyncio.to_thread(
        server.queue.accept, delivery, event, payload.get("action"), routed.jobs
    )
    try:
        while await server.workers.run_once("replay"):
            pass
    finally:
        await close_backends(server.services.backends)
        await server.github_app.aclose()
        server.queue.close()
        if server.services.ledger is not None:
            server.services.ledger.close()
    return Replayed(routed.ack, tuple(jobs))
