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
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from bot.config import Settings, SettingsError
from bot.cost import PriceTable
from bot.events import EventSettings, route
from bot.github import GitHubApp
from bot.ledger import Ledger
from bot.metrics import JOBS, Metrics
from bot.models.anthropic import FrontierBackend
from bot.models.base import Backend
from bot.pipeline import GitHubClient, Services
from bot.queue import JobQueue
from bot.routing import Models, Tier
from bot.web import create_app
from bot.worker import Workers


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
        settings.github_app_id, key, settings.github_api_url, transport=transport
    )
    bot_login = f"{await github_app.slug()}[bot]"
    backends, models = _backends(settings)

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
        try:
            yield
        finally:
            await workers.stop()
            for backend in backends.values():
                close = getattr(backend, "aclose", None)
                if close is not None:
                    await close()
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


def _backends(settings: Settings) -> tuple[dict[Tier, Backend], Models]:
    frontier = FrontierBackend(
        settings.frontier_model,
        api_key=settings.anthropic_api_key,
        base_url=settings.anthropic_base_url,
    )
    backends: dict[Tier, Backend] = {Tier.FRONTIER: frontier}
    local_unavailable = "TIERBOT_LOCAL_MODEL_DIR is not set"
    if settings.local_model_dir:
        from bot.models.exllama import LocalBackend  # noqa: PLC0415 - GPU stack on demand

        local = LocalBackend(settings.local_model_dir, context_tokens=settings.local_context_tokens)
        backends[Tier.LOCAL] = local
        local_unavailable = local.unavailable_reason() or ""
    models = Models(
        local=settings.local_model,
        frontier=settings.frontier_model,
        local_window=settings.local_context_tokens,
        local_unavailable=local_unavailable or None,
        frontier_unavailable=frontier.unavailable_reason(),
    )
    return backends, models


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
