"""The App on PostgreSQL (TIERBOT_DATABASE_URL=postgresql://...): web replicas and the pieces the
`tierbot worker` processes share with them.

`tierbot serve` on a PostgreSQL URL runs the webhook front only: it records each delivery once
(across every replica) and defers its jobs to procrastinate; `tierbot worker` processes run them
(bot.faces.app.workers_pg). Both refuse to start on a database that `tierbot migrate` has not
brought up to date (`require_migrated`), with the command to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
import uvicorn
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette

from bot.adapters.github import GitHubApp
from bot.adapters.jobs import PgQueue, missing_tables
from bot.adapters.ledger import Ledger
from bot.adapters.metrics import Metrics
from bot.adapters.models.backends import close_backends
from bot.adapters.prices import PriceTable
from bot.adapters.reachability import Reachability
from bot.adapters.settings import Settings, SettingsError
from bot.faces.app import listener
from bot.faces.app.events import EventSettings
from bot.faces.app.github_app import Sleep, learn_login, start_github_app
from bot.faces.app.parts import app_services
from bot.faces.app.web import create_app
from bot.pipeline.services import Services

log = structlog.get_logger("tierbot.scaleout")


class DatabaseUnreachableError(RuntimeError):
    """The database did not answer, or refused the connection (a failure, not a wrong
    setting: `tierbot` exits 1)."""


def require_migrated(settings: Settings) -> None:
    """SettingsError, with the command to run, when the ledger's or the queue's schema is not
    in the database yet (or not at its newest revision); also when the database is out of
    reach."""
    where = settings.database_url.split("@")[-1]
    try:
        ledger = Ledger(settings.database_url)
        try:
            ledger_ok = ledger.migrated()
        finally:
            ledger.close()
        missing = missing_tables(settings.database_url)
    except (SQLAlchemyError, psycopg.Error) as exc:  # one line, no traceback
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise DatabaseUnreachableError(f"cannot reach the database at {where}: {reason}") from None
    if not ledger_ok or missing:
        parts = ([] if ledger_ok else ["the ledger's"]) + (["the queue's"] if missing else [])
        raise SettingsError(
            f"the database at {where} lacks {' and '.join(parts)} schema; "
            "run `tierbot migrate` first (with the same TIERBOT_DATABASE_URL)"
        )


@dataclass
class Parts:
    """What a web replica and a worker both build: the GitHub App client, whether GitHub
    answered lately, the queue's webhook side and the metrics."""

    github_app: GitHubApp
    github: Reachability
    queue: PgQueue
    metrics: Metrics

    async def aclose(self) -> None:
        """Release the GitHub connections and the pool."""
        await self.github_app.aclose()
        self.queue.close()


async def build_parts(
    settings: Settings,
    *,
    transport: Any = None,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
) -> Parts:
    """The shared parts on a migrated database, or SettingsError naming what is wrong."""
    github_app, github = await start_github_app(
        settings,
        transport=transport,
        clock=clock,
        sleep=sleep,
        before=lambda: asyncio.to_thread(require_migrated, settings),
    )
    queue = PgQueue(settings.database_url, local=bool(settings.local_model_dir), clock=clock)
    return Parts(github_app, github, queue, Metrics())


def services_for(settings: Settings, parts: Parts) -> Services:
    """The services a worker's jobs use (bot.faces.app.parts.app_services): prices (an unknown
    frontier model stops the start) and the ledger on the same database."""
    prices = PriceTable.for_settings(settings.prices_file)
    prices.require(settings.frontier_model)
    ledger = Ledger(settings.database_url)
    return app_services(settings, parts.github_app, prices, parts.metrics, ledger, parts.queue)


async def close_services(services: Services) -> None:
    """Release the backends (a loaded model, HTTP clients) and the ledger's connections."""
    await close_backends(services.backends)
    if services.ledger is not None:
        services.ledger.close()


async def build_web(
    settings: Settings,
    *,
    transport: Any = None,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
) -> tuple[Starlette, Parts]:
    """A web replica: the webhook app over the PostgreSQL queue, without workers."""
    parts = await build_parts(settings, transport=transport, clock=clock, sleep=sleep)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(
            learn_login(parts.github_app, app.state.admit_held, sleep=sleep),
            name="tierbot-login",
        )
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await parts.aclose()

    def bot_login() -> str | None:
        slug = parts.github_app.known_slug
        return None if slug is None else f"{slug}[bot]"

    app = create_app(
        secret=settings.webhook_secret or "",
        queue=parts.queue,
        bot_login=bot_login,
        event_settings=EventSettings(),
        metrics=parts.metrics,
        lifespan=lifespan,
        caps=settings.caps,
        github=parts.github,
    )
    return app, parts


async def serve_web(settings: Settings, host: str, port: int) -> None:
    """Run a web replica under uvicorn with bot.faces.app.listener's limits until stopped."""
    limits = listener.Limits(
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        max_connections=settings.max_connections,
    )
    limits = listener.fitted(limits, listener.raise_fd_limit())
    app, _ = await build_web(settings)
    config = listener.config(app, host=host, port=port, limits=limits)
    await uvicorn.Server(config).serve()
