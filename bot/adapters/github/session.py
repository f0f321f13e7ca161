"""One GitHub session: githubkit holding one HTTP client, with bounded retries and spaced writes.

githubkit's own retries are off (they wait inside the call, up to an hour on a primary rate
limit). Ours are bounded instead: 5xx answers and lost connections are retried twice with a short
backoff (never for a POST that could create something twice), rate limits are waited out per
`retry-after` / `x-ratelimit-reset` only while the call's total wait stays under a cap, and beyond
it the GitHubError says when to try again (`retry_at`). Writes from one session are at least a
second apart, as GitHub asks of integrations.

A session keeps one HTTP client (httpx) from its first request until `aclose`: githubkit keeps
its client only inside `async with`, in a context variable that tasks started before (the
workers) never see, and otherwise makes a new one, with a new SSL context (about 18 ms of CPU) and
a new connection, for every request. A GitHub App's sessions share one connection pool
(`SharedPool`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

import httpx
from githubkit import BaseAuthStrategy, TokenAuthStrategy, UnauthAuthStrategy
from githubkit import GitHub as _GitHubKit
from githubkit.exception import RequestError, RequestFailed

from bot.adapters.github.errors import GitHubError, error_for
from bot.adapters.reachability import Reachability
from bot.core.secrets.redaction import scrub_bodies

DEFAULT_API_URL = "https://api.github.com"
TokenSource = Callable[[], Awaitable[str]]
JSON = "application/vnd.github+json"
MAX_PAGES = 30  # 30 pages of 100: GitHub lists at most 3,000 files of a pull request
_RETRIES = 2  # for 5xx, lost connections and rate limits
_BACKOFF = 0.5  # seconds, doubled per retry of a 5xx or lost connection


class Session:
    """Requests to GitHub as one token, a token source (an installation) or none (public data
    only, 60 requests an hour), over one HTTP client. See bot.adapters.github.GitHub for the
    options."""

    def __init__(
        self,
        token: str | TokenSource | None = None,
        api_url: str = DEFAULT_API_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        accept_json: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait: float = 60.0,
        write_spacing: float = 1.0,
        reachability: Reachability | None = None,
    ) -> None:
        auth: BaseAuthStrategy
        if callable(token):
            auth = _SourceAuthStrategy(token)
        else:
            auth = TokenAuthStrategy(token) if token else UnauthAuthStrategy()
        self._kit = _Kit(
            auth,
            base_url=api_url.rstrip("/") + "/",
            async_transport=transport,
            timeout=timeout,
            auto_retry=False,
            http_cache=False,
        )
        self._authenticated = bool(token)
        # GitHub Enterprise serves REST under /api/v3 and GraphQL at /api/graphql.
        root = api_url.rstrip("/")
        self.graphql = (
            root.removesuffix("/api/v3") + "/api/graphql"
            if root.endswith("/api/v3")
            else "/graphql"
        )
        self._accept = f"{JSON}, application/json" if accept_json else JSON
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._write_spacing = write_spacing
        self._reachability = reachability
        self._write_lock = asyncio.Lock()
        self._last_write = -math.inf

    async def aclose(self) -> None:
        """Close the HTTP client and its connections; a later request opens new ones."""
        await self._kit.aclose()

    async def paged(self, path: str) -> AsyncIterator[dict[str, Any]]:
        """Every item of a listing, 100 a page, up to MAX_PAGES pages."""
        for page in range(1, MAX_PAGES + 1):
            items = await self.json("GET", path, params={"per_page": 100, "page": page})
            if not isinstance(items, list):
                raise GitHubError(f"unexpected answer listing {path}")
            for item in items:
                yield item
            if len(items) < 100:
                return

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON of a `request`."""
        return (await self.request(method, path, **kwargs)).json()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        accept: str | None = None,
        allow: Collection[int] = (),
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One call with bounded retries; an answer whose status is in `allow` is returned."""
        safe = method != "POST" if idempotent is None else idempotent
        headers = {"Accept": accept or self._accept}
        waited = 0.0
        for attempt in range(_RETRIES + 1):
            try:
                response = await self._send(method, path, params, json, headers)
            except RequestFailed as exc:
                response = exc.response.raw_response
                if response.status_code in allow:
                    return response
                error = self._error(exc, path)
                if error.retry_at is not None:
                    delay: float | None = max(error.retry_at - self._clock(), 0.0)
                elif response.status_code >= 500 and safe:
                    delay = _BACKOFF * 2**attempt
                else:
                    delay = None
            except RequestError as exc:
                if isinstance(exc.exc, GitHubError):
                    raise exc.exc from None
                error = self._error(exc, path)
                delay = _BACKOFF * 2**attempt if safe else None
            else:
                self._record(None)
                return response
            self._record(error)
            if delay is None or attempt == _RETRIES:
                raise error
            if waited + delay > self._max_wait:
                raise GitHubError(
                    f"{error}; not waiting {delay:.0f} s",
                    error.status,
                    error.retry_at,
                    transient=error.transient,
                )
            await self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def _record(self, error: GitHubError | None) -> None:
        """Tell `reachability` whether GitHub answered: any answer but a 5xx counts."""
        if self._reachability is not None:
            unreachable = error is not None and (error.status is None or error.status >= 500)
            self._reachability.record(str(error) if unreachable else None)

    async def _send(
        self, method: str, path: str, params: Any, json: Any, headers: dict[str, str]
    ) -> httpx.Response:
        """Send once; writes wait until a second after the previous write ended.
        https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#pause-between-mutative-requests
        """
        if method == "GET":
            response = await self._kit.arequest(method, path, params=params, headers=headers)
            return response.raw_response
        json = scrub_bodies(json)  # the last check that no secret is posted
        async with self._write_lock:
            wait = self._last_write + self._write_spacing - self._clock()
            if wait > 0:
                await self._sleep(min(wait, self._write_spacing))
            try:
                response = await self._kit.arequest(
                    method, path, params=params, json=json, headers=headers
                )
                return response.raw_response
            finally:
                self._last_write = self._clock()

    def _error(self, exc: RequestError[Any], path: str) -> GitHubError:
        return error_for(exc, path, now=self._clock(), authenticated=self._authenticated)


class _Kit(_GitHubKit[Any]):
    """githubkit's client holding one httpx client from its first request until `aclose`,
    whatever task sends the request (see the module docstring)."""

    _client: httpx.AsyncClient | None = None

    @contextlib.asynccontextmanager
    async def get_async_client(self) -> AsyncGenerator[httpx.AsyncClient, None]:
        if self._client is None:
            made = await self._create_async_client()
            if self._client is None:  # no other task made one meanwhile
                self._client = made
            else:
                await made.aclose()
        yield self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class SharedPool(httpx.AsyncBaseTransport):
    """A GitHub App's one connection pool as each of its sessions sees it: closing a session
    leaves the pool open; the App closes it."""

    def __init__(self, pool: httpx.AsyncBaseTransport) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        pass


class _SourceAuth(httpx.Auth):
    """Asks the source for a token on every request, so a renewed one is used at once."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._source()}"
        yield request


@dataclass(frozen=True)
class _SourceAuthStrategy(BaseAuthStrategy):
    source: TokenSource

    def get_auth_flow(self, github: Any) -> httpx.Auth:
        return _SourceAuth(self.source)
