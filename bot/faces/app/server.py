"""The GitHub App server on the embedded defaults: the webhook app, its queue and its workers.

`build` wires everything from the process settings into one process: the App's credentials, the
SQLite queue, the model backends and prices (an unknown frontier model stops it here, not at the
first review), and workers that the Starlette lifespan starts and stops, with a background
checkpoint of the SQLite file (bot.adapters.checkpointer: no webhook pays for one). `serve` runs
the webhook app under uvicorn behind bot.faces.app.listener's timeouts and connection cap, with
the same workers in a child process (`build_front`, bot.faces.app.worker_process): a review's
work on the event loop and the interpreter lock would otherwise delay deliveries' answers.
`replay` runs one saved delivery through the same handlers and its jobs at once.

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
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette

from bot.adapters.checkpointer import Checkpointer
from bot.adapters.github import GitHubApp
from bot.adapters.models.backends import close_backends
from bot.adapters.queue import JobQueue
from bot.adapters.reachability import Reachability
from bot.adapters.settings import Settings, SettingsError
from bot.faces.app import listener
from bot.faces.app.events import EventSettings, route
from bot.faces.app.github_app import Sleep, learn_login
from bot.faces.app.parts import Base, build_base, freeze_heap, workers_for, working
from bot.faces.app.web import create_app
from bot.faces.app.worker import Workers
from bot.faces.app.worker_process import WorkerProcess
from bot.pipeline.services import Services

log = structlog.get_logger("tierbot.server")


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
    """Everything the App needs in one process, or SettingsError naming what is missing or
    refused. `transport`, `clock` and `sleep` (every wait: GitHub's write spacing and retries,
    the workers' polls and leases) are for tests."""
    base = await build_base(settings, transport=transport, clock=clock, sleep=sleep)
    workers = workers_for(settings, base, sleep=sleep)
    services = workers.services

    running = working(workers, settings.feedback_interval_seconds)
    app = _webhook_app(settings, base, running, on_enqueued=workers.wake, sleep=sleep)
    return Server(app, base.queue, workers, services, base.github_app, base.github)


async def build_front(settings: Settings) -> tuple[Starlette, WorkerProcess]:
    """The App as `serve` runs it: the webhook app in this process and its workers in a child
    process (bot.faces.app.worker_process), so that no review's work holds up a delivery's
    answer."""
    base = await build_base(settings)
    process = WorkerProcess(settings, base.github)

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[None]:
        await process.start()
        try:
            yield
        finally:
            await process.stop()

    return _webhook_app(settings, base, running(), on_enqueued=process.wake), process


def _webhook_app(
    settings: Settings,
    base: Base,
    running: contextlib.AbstractAsyncContextManager[None],
    *,
    on_enqueued: Callable[[], None] | None,
    sleep: Sleep = asyncio.sleep,
) -> Starlette:
    """The webhook app over `base`, whose lifespan runs `running` (the workers, wherever they
    are) beside learning the App's login and the background checkpoint of the SQLite file."""
    checkpointer = Checkpointer(settings.database_path)
    github_app = base.github_app

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(
                learn_login(github_app, app.state.admit_held, sleep=sleep), name="tierbot-login"
            ),
            # Real time, not `sleep`: a fast test clock would make it spin.
            asyncio.create_task(checkpointer.run(), name="tierbot-checkpoint"),
        ]
        try:
            async with running:
                yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await base.aclose()

    def bot_login() -> str | None:
        slug = github_app.known_slug
        return None if slug is None else f"{slug}[bot]"

    assert settings.webhook_secret is not None  # start_github_app refused it missing
    return create_app(
        secret=settings.webhook_secret,
        queue=base.queue,
        bot_login=bot_login,
        event_settings=EventSettings(),
        on_enqueued=on_enqueued,
        metrics=base.metrics,
        lifespan=lifespan,
        caps=settings.caps,
        github=base.github,
    )


async def serve(settings: Settings, host: str, port: int) -> None:
    """Run the App under uvicorn with bot.faces.app.listener's limits (and their logging) until
    stopped; its workers run in a child process."""
    limits = listener.Limits(
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        max_connections=settings.max_connections,
    )
    limits = listener.fitted(limits, listener.raise_fd_limit())
    app, _ = await build_front(settings)
    freeze_heap()
    config = listener.config(app, host=host, port=port, limits=limits)
    await uvicorn.Server(config).serve()


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
