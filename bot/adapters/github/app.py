"""A GitHub App: the JWTs it signs with its private key, and one client per installation, all
sharing one connection pool."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bot.adapters.github.client import GitHub
from bot.adapters.github.errors import GitHubError
from bot.adapters.github.session import DEFAULT_API_URL, Session, SharedPool
from bot.adapters.reachability import Reachability

_TOKEN_MARGIN = 300.0  # renew an installation token five minutes before it expires


class GitHubApp:
    """A GitHub App: JWTs from its private key, and a client per installation.

    Installation tokens last an hour; each is cached until five minutes before it expires and
    renewed on the next call after that, so a long job never sends a stale one. `marker_key`
    (from the webhook secret: bot.core.markers.marker_key) signs and checks the markers of
    every installation's client. The App's own requests and all its installations' clients share
    one connection pool (`transport`, for tests, takes its place); `aclose` closes them all.
    https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-an-installation-access-token-for-a-github-app
    """

    def __init__(
        self,
        app_id: int | str,
        private_key_pem: str,
        api_url: str = DEFAULT_API_URL,
        *,
        marker_key: bytes,
        transport: httpx.AsyncBaseTransport | None = None,
        accept_json: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        slug: str | None = None,
        reachability: Reachability | None = None,
    ) -> None:
        self._marker_key = marker_key
        pem = private_key_pem if "\n" in private_key_pem else private_key_pem.replace("\\n", "\n")
        try:
            key = load_pem_private_key(pem.strip().encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise GitHubError(
                f"the GitHub App private key is not a usable PEM key: {exc}"
            ) from None
        if not isinstance(key, RSAPrivateKey):
            raise GitHubError("the GitHub App private key is not an RSA key")
        self._key, self._app_id = key, str(app_id)
        self._pool = transport or httpx.AsyncHTTPTransport()
        self._options: dict[str, Any] = {
            "transport": SharedPool(self._pool),
            "accept_json": accept_json,
            "clock": clock,
            "sleep": sleep,
            "reachability": reachability,
        }
        self._clock = clock
        self._api = Session(self._jwt, api_url, write_spacing=0.0, **self._options)
        self._api_url = api_url
        self._tokens: dict[int, tuple[str, float]] = {}
        self._token_locks: dict[int, asyncio.Lock] = {}
        self._clients: dict[int, GitHub] = {}
        self._slug = slug

    async def __aenter__(self) -> GitHubApp:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every installation's client and the connection pool they share."""
        await self._api.aclose()
        for client in self._clients.values():
            await client.aclose()
        await self._pool.aclose()

    @property
    def known_slug(self) -> str | None:
        """The slug if it is known (given, or fetched once), without asking GitHub."""
        return self._slug

    async def slug(self) -> str:
        """The App's slug (given, or asked of GitHub once); its comments are by `<slug>[bot]`.
        https://docs.github.com/en/rest/apps/apps#get-the-authenticated-app"""
        if self._slug is None:
            self._slug = str((await self._api.json("GET", "/app"))["slug"])
        return self._slug

    async def installation(self, installation_id: int) -> GitHub:
        """The client for one installation (the same one each time, so its writes stay spaced);
        fails here when the installation is gone or the App's credentials are wrong."""
        await self._token(installation_id)
        client = self._clients.get(installation_id)
        if client is None:
            source = functools.partial(self._token, installation_id)
            login = f"{await self.slug()}[bot]"
            client = GitHub(
                source,
                self._api_url,
                bot_login=login,
                marker_key=self._marker_key,
                **self._options,
            )
            self._clients[installation_id] = client
        return client

    async def _jwt(self) -> str:
        # Issued a minute in the past against clock drift; ten minutes is GitHub's maximum.
        # https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
        now = int(self._clock())
        claims = {"iat": now - 60, "exp": now + 540, "iss": self._app_id}
        return jwt.encode(claims, self._key, algorithm="RS256")

    async def _token(self, installation_id: int) -> str:
        async with self._token_locks.setdefault(installation_id, asyncio.Lock()):
            cached = self._tokens.get(installation_id)
            if cached is not None and self._clock() < cached[1] - _TOKEN_MARGIN:
                return cached[0]
            path = f"/app/installations/{installation_id}/access_tokens"
            data = await self._api.json("POST", path, idempotent=True)
            try:
                expires = datetime.fromisoformat(str(data["expires_at"])).timestamp()
            except (KeyError, ValueError):
                expires = self._clock() + 3600.0  # GitHub's documented lifetime: one hour
            self._tokens[installation_id] = (str(data["token"]), expires)
            return str(data["token"])
