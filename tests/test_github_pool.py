"""One HTTP client and its connections per process and installation: counted as TCP connections
at fakes of GitHub and of the Messages API served over real HTTP/1.1, which keep a connection
open between requests as the real services do."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.adapters.github import GitHub, GitHubApp, PullRef
from bot.adapters.models.anthropic import FrontierBackend
from bot.adapters.settings import Settings
from bot.core.markers import marker_key
from bot.core.types import CompletionRequest
from bot.faces.app.server import build
from tests.fake_anthropic import (
    MODEL,
    FakeAnthropic,
    fake_anthropic_fixture,  # noqa: F401 (the fake_anthropic fixture)
    message,
)
from tests.fake_github_api import FakeGitHubAPI, FakeGitHubHost, private_pem

REQUESTS = 20


def test_one_client_sends_every_request_over_one_connection() -> None:
    """githubkit alone opens a connection (and an SSL context) per request outside `async with`;
    the bot's client keeps one, whichever task sends."""
    fake = FakeGitHubAPI(diff="diff --git a/x b/x\n")
    connections: list[str] = []
    ref = PullRef(fake.owner, fake.repo, fake.number)

    async def run() -> None:
        async with GitHub("ghp_test", url) as github:
            for _ in range(REQUESTS // 2):
                await github.pull(ref)
            for _ in range(REQUESTS // 2):  # each from a task of its own, as workers send them
                await asyncio.create_task(github.pull_diff(ref))

    with fake.served(connections) as url:
        asyncio.run(run())
    assert len(fake.calls) == REQUESTS
    assert len(connections) == 1


def test_an_apps_installations_share_one_pool_and_close_it() -> None:
    """The App's own requests (its slug, installation tokens) and two installations' requests,
    from concurrent tasks as the workers send them, reuse pooled connections: no more are open
    than requests were in flight at once."""
    host = FakeGitHubHost()
    connections: list[str] = []

    async def review(app: GitHubApp, installation: int, number: int) -> None:
        github = await app.installation(installation)
        for _ in range(REQUESTS):
            await github.pull(PullRef(host.owner, host.repo, number))

    async def run() -> tuple[int, int]:
        app = GitHubApp(4242, private_pem(), url, marker_key=marker_key("s"), slug="tierbot")
        async with app:
            await review(app, 1, 1)
            await review(app, 2, 2)
            sequential = len(connections)
            await asyncio.gather(*(review(app, i % 2 + 1, i + 1) for i in range(4)))
            return sequential, len(connections)

    with host.served(connections) as url:
        sequential, concurrent = asyncio.run(run())
    assert len(host.calls) == 2 + 2 * REQUESTS + 4 * REQUESTS  # two tokens, then the pulls
    assert sequential == 1
    assert concurrent <= 1 + 4


def test_the_frontier_backend_keeps_one_connection(fake_anthropic: FakeAnthropic) -> None:
    """One AsyncAnthropic per backend, so N reviews reuse one connection to the model API."""
    fake_anthropic.reply(*[message('{"comments": []}') for _ in range(REQUESTS)])
    backend = FrontierBackend(MODEL, api_key="sk-ant-pool", base_url=fake_anthropic.base_url)
    request = CompletionRequest(system="s", stable="", prompt="p", schema={"type": "object"})

    async def run() -> None:
        try:
            for _ in range(REQUESTS):
                await backend.complete(request)
        finally:
            await backend.aclose()

    asyncio.run(run())
    assert len(fake_anthropic.requests) == REQUESTS
    assert fake_anthropic.connections == 1


def test_the_server_closes_its_github_connections_when_it_stops(tmp_path: Path) -> None:
    """The App's pool is opened by the first request (here the start's slug and a token) and
    closed in the lifespan's end: GitHub sees every connection closed by the client."""
    host = FakeGitHubHost()
    opened: list[str] = []
    closed: list[str] = []

    async def run() -> None:
        settings = Settings(
            github_app_id=4242,
            github_private_key=private_pem(),
            webhook_secret="s",
            github_api_url=url,
            database_url=f"sqlite:///{tmp_path / 'tierbot.db'}",
        )
        server = await build(settings)
        server.workers.concurrency = 0
        async with server.app.router.lifespan_context(server.app):
            await server.github_app.installation(1)
            assert opened
            assert not closed

    with host.served(opened, closed) as url:
        asyncio.run(run())
        deadline = time.monotonic() + 5
        while len(closed) < len(opened) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sorted(closed) == sorted(opened)
