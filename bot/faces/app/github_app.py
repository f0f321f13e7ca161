"""The App's GitHub client as the server starts it: credentials checked and the key read, one
short ask for the App's login at start, and, when GitHub did not answer then, asking again in
the background until it does."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from bot.adapters.github import GitHubApp, GitHubError
from bot.adapters.reachability import Reachability
from bot.adapters.settings import Settings, SettingsError
from bot.core.markers import marker_key

log = structlog.get_logger("tierbot.server")

START_WAIT_SECONDS = 5.0  # how long the start waits for GitHub to say the App's slug
LOGIN_RETRY_SECONDS = (1.0, 60.0)  # the first and the longest wait between two asks after that
Sleep = Callable[[float], Awaitable[None]]


async def start_github_app(
    settings: Settings,
    *,
    transport: Any = None,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
    before: Callable[[], Awaitable[None]] | None = None,
) -> tuple[GitHubApp, Reachability]:
    """The App's client, its key read from the settings, after one ask for its login; with
    whether GitHub answered lately. SettingsError names what is missing or unreadable; `before`
    runs once the credentials are known to be there (a replica checks its database then)."""
    problems = settings.app_problems()
    if problems:
        raise SettingsError("the GitHub App needs " + "; ".join(problems))
    assert settings.github_app_id is not None
    assert settings.webhook_secret is not None
    if before is not None:
        await before()
    key = settings.github_private_key
    if key is None:
        assert settings.github_private_key_file is not None
        try:
            key = Path(settings.github_private_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"TIERBOT_GITHUB_PRIVATE_KEY_FILE cannot be read: {exc}") from None
    github = Reachability(clock=clock)
    github_app = GitHubApp(
        settings.github_app_id,
        key,
        settings.github_api_url,
        marker_key=marker_key(settings.webhook_secret),
        transport=transport,
        clock=clock,
        sleep=sleep,
        slug=settings.github_app_slug,
        reachability=github,
    )
    await _first_ask(github_app)
    return github_app, github


async def _first_ask(github_app: GitHubApp) -> None:
    """Ask for the App's slug once, for START_WAIT_SECONDS at most: a refusal (wrong App id or
    key, wrong API URL) is a SettingsError; no answer leaves it to `learn_login`."""
    if github_app.known_slug is not None:
        return
    try:
        async with asyncio.timeout(START_WAIT_SECONDS):
            await github_app.slug()
    except GitHubError as exc:
        if not exc.transient:
            raise SettingsError(
                "GitHub refused the App; check TIERBOT_GITHUB_APP_ID, the App's private key and "
                f"TIERBOT_GITHUB_API_URL: {exc}"
            ) from None
        log.warning("GitHub is unreachable; serving anyway and asking again", error=str(exc))
    except TimeoutError:
        log.warning(
            "GitHub did not answer; serving anyway and asking again", waited=START_WAIT_SECONDS
        )


async def learn_login(
    github_app: GitHubApp,
    admit_held: Callable[[], Awaitable[int]],
    *,
    sleep: Sleep = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
) -> None:
    """Ask GitHub for the App's slug until it answers, backing off (with jitter) from
    LOGIN_RETRY_SECONDS[0] to [1] between asks; then route the deliveries held meanwhile (also
    those held by an earlier process that stopped before it knew)."""
    delay, longest = LOGIN_RETRY_SECONDS
    while github_app.known_slug is None:
        try:
            await github_app.slug()
        except GitHubError as exc:
            wait = delay * (0.5 + 0.5 * jitter())
            if exc.transient:
                log.warning("GitHub is still unreachable", error=str(exc), retry_in=round(wait, 1))
            else:
                log.error("GitHub refused the App", error=str(exc), retry_in=round(wait, 1))
            await sleep(wait)
            delay = min(delay * 2, longest)
    routed = await admit_held()
    log.info("the App's login is known", slug=github_app.known_slug, held_routed=routed)
