"""The GitHub App server on the embedded defaults: the webhook app, its queue and its workers.

`build` wires everything from the process settings: the App's credentials, the SQLite queue,
the model backends and prices (an unknown frontier model stops it here, not at the first
review), and in-process workers that the Starlette lifespan starts and stops. `serve` runs it
under uvicorn; `replay` runs one saved delivery through the same handlers and its jobs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from starlette.applications import Starlette

from bot.backends import backends_for, close_backends
from bot.config import Settings, SettingsError
from bot.cost import PriceTable
from bot.events import EventSettings, route
from bot.github import GitHubApp, PullRef
from bot.ledger import Ledger
from bot.metrics import JOBS, Metrics
from bot.pipeline import GitHubClient, Services, collect_feedback
from bot.queue import JobQueue
from bot.review.markers import marker_key
from bot.web import create_app
from bot.worker import Workers

log = structlog.get_logger("tierbot.server")
FEEDBACK_WINDOW = timedelta(days=14)  # PRs reviewed this recently get their feedback collected


@dataclass
class Server:
    app: Starlette
    queue: JobQueue
    workers: Workers
    services: Services
    bot_login: str
    github_app: GitHubApp


async def build(settings: Settings, *, transport: Any = None) -> Server:
    """Everything the App needs, or SettingsError naming what is missing."""
    problems = settings.app_problems()
    if problems:
        raise SettingsError("the GitHub App needs " + "; ".join(problems))
    assert settings.github_app_id is not None
    assert settings.webhook_secret is not None
    key = settings.github_private_key
    if key is None:
        assert settings.github_private_key_file is not None
        try:
            key = Path(settings.github_private_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"TIERBOT_GITHUB_PRIVATE_KEY_FILE cannot be read: {exc}") from None
    prices = PriceTable.for_settings(settings.prices_file)
    prices.require(settings.frontier_model)
    github_app = GitHubApp(
        settings.github_app_id,
        key,
        settings.github_api_url,
        marker_key=marker_key(settings.webhook_secret),
        transport=transport,
    )
    bot_login = f"{await github_app.slug()}[bot]"
    backends, models = backends_for(settings)

    async def github_for(installation_id: int | None) -> GitHubClient:
        if installation_id is None:
            raise SettingsError("a job without an installation cannot reach GitHub as the App")
        return await github_app.installation(installation_id)

    metrics = Metrics()
    ledger = Ledger(settings.database_url)
    await asyncio.to_thread(ledger.migrate)
    services = Services(settings, prices, backends, models, github_for, metrics, ledger)
    queue = JobQueue(settings.database_path)
    workers = Workers(
        queue,
        services,
        concurrency=settings.workers,
        lease_seconds=settings.lease_seconds,
        on_outcome=lambda kind, state, _: metrics.inc(JOBS, {"kind": kind, "outcome": state}),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        workers.start()
        feedback = asyncio.create_task(
            feedback_loop(services, settings.feedback_interval_seconds), name="tierbot-feedback"
        )
        try:
            yield
        finally:
            feedback.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feedback
            await workers.stop()
            await close_backends(backends)
            queue.close()
            ledger.close()

    app = create_app(
        secret=settings.webhook_secret,
        queue=queue,
        bot_login=bot_login,
        event_settings=EventSettings(),
        on_enqueued=workers.wake,
        metrics=metrics,
        lifespan=lifespan,
    )
    return Server(app, queue, workers, services, bot_login, github_app)


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
    server = await build(settings)
    config = uvicorn.Config(server.app, host=host, port=port, lifespan="on", log_level="info")
    await uvicorn.Server(config).serve()


async def replay(settings: Settings, payload_path: Path, event: str) -> list[str]:
    """Run one saved delivery through the webhook's routing and then its jobs, now."""
    server = await build(settings)
    payload = json.loads(payload_path.read_text(encoding="utf-8"))
    if not isinstance(payload, dict):
        raise SettingsError(f"{payload_path} does not hold a webhook payload (a JSON object)")
    routed = route(event, payload, bot_login=server.bot_login, settings=EventSettings())
    outcomes = [routed.ack]
    server.workers.on_outcome = lambda kind, state, detail: outcomes.append(
        f"{kind} {state}: {detail}"
    )
    delivery = f"replay-{uuid.uuid4()}"
    await asyncio.to_thread(
        server.queue.accept, delivery, event, payload.get("action"), routed.jobs
    )
    try:
        while await server.workers.run_once("replay"):
            pass
    finally:
        server.queue.close()
        if server.services.ledger is not None:
            server.services.ledger.close()
    return outcomes
