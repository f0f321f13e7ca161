"""The HTTP listener of `tierbot serve`: uvicorn with read timeouts, a connection cap and quiet
logs, so that slow or hostile clients cannot hold the server.

What uvicorn offers, and what it lacks (uvicorn 0.54, h11; the settings are at
https://www.uvicorn.org/settings/, the code in uvicorn/protocols/http/h11_impl.py):

- `timeout_keep_alive` (5 s here) closes a connection idle *between* requests; but the timer is
  cancelled by every byte received, and no timer runs while a request's head or body arrives.
  A client that trickles its headers, or its body, one byte at a time holds the connection (and
  a file descriptor) for ever. Even a body the app never reads (GET /healthz with a
  Content-Length) keeps the connection: uvicorn drops the bytes and cancels the timer on each.
- `h11_max_incomplete_event_size` caps the size of a request head (16 KiB here, h11's default),
  not the time it takes.
- `limit_concurrency` answers 503 once a request head is complete: a trickling client never
  gets there, and /healthz would be refused with everyone else.

So the protocol here, a subclass of uvicorn's H11Protocol, adds:

- a head timeout: a connection that has not sent a complete request head `header_timeout`
  seconds after it opened (or after the previous response) is answered 408 and closed;
- a body timeout: a request whose body has not all arrived `body_timeout` seconds after its head
  is cut off, whether the app reads the body or not; the app sees a disconnect (bot.web answers
  it as a refused delivery, not a 500);
- a connection cap: past `max_connections` open connections, a new one is shed: any request on
  it but `GET /healthz` is answered 503 (`Retry-After`) and its head must come within a second;
  past `max_connections + health_reserve`, a new connection is answered 503 and closed at once,
  before anything is read. /healthz thus answers as long as the reserve is not full.

`raise_fd_limit` lifts the soft limit on open files to the hard one at start, and `fitted` keeps
the cap and the reserve under it with room for SQLite, logs and outbound connections, so the
accept loop does not run out of descriptors (EMFILE). Should it still (another process's limit,
a lower hard limit), asyncio pauses accepting for a second and logs an error; bot.repeats keeps
that from flooding the log.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import resource
from dataclasses import dataclass, replace
from typing import Any, ClassVar, cast

import h11
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("tierbot.http")  # stdlib, like uvicorn's: it goes through RepeatFilter

HEALTH_PATH = "/healthz"
KEEP_ALIVE_SECONDS = 5
MAX_HEAD_BYTES = 16 * 1024
GRACEFUL_SHUTDOWN_SECONDS = 30
FD_RESERVE = 128  # descriptors kept for SQLite, log files, model files and outbound HTTP
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 15\r\nconnection: close\r\n\r\nRequest Timeout"
)
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 19\r\nretry-after: 5\r\nconnection: close\r\n\r\nService Unavailable"
)


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a client may take to send a request, and how many connections may be open."""

    header_timeout: float = 10.0
    body_timeout: float = 20.0
    max_connections: int = 2048
    health_reserve: int = 64
    shed_header_timeout: float = 1.0

    def __post_init__(self) -> None:
        if not (self.header_timeout > 0 and self.body_timeout > 0):
            raise ValueError(f"timeouts must be positive: {self}")
        if self.max_connections < 1 or self.health_reserve < 0:
            raise ValueError(f"max_connections must be at least 1: {self}")


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return the soft limit now.
    https://docs.python.org/3/library/resource.html#resource.RLIMIT_NOFILE"""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 2**31 - 1
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        else:
            soft = target
    return soft


def fitted(limits: Limits, fd_limit: int) -> Limits:
    """`limits` with the cap and the health reserve under `fd_limit`, less a reserve of
    FD_RESERVE or a tenth of the limit, whichever is more."""
    room = max(fd_limit - max(FD_RESERVE, fd_limit // 10), 2)
    reserve = min(limits.health_reserve, max(room // 8, 1))
    cap = max(1, min(limits.max_connections, room - reserve))
    if cap < limits.max_connections:
        log.warning(
            "connection cap lowered from %d to %d to stay under the open-file limit (%d)",
            limits.max_connections,
            cap,
            fd_limit,
        )
    return replace(limits, max_connections=cap, health_reserve=reserve)


def config(
    app: ASGIApp, *, host: str, port: int, limits: Limits, log_level: str = "info"
) -> uvicorn.Config:
    """uvicorn's settings for the App: the guarded protocol, keep-alive, head size, a bounded
    graceful shutdown, and logging through RepeatFilter."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level=log_level,
        http=protocol(limits),
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        log_config=log_config(),
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with RepeatFilter on its handlers, and a root handler
    (so asyncio's errors and this module's warnings go through the filter too)."""
    settings = copy.deepcopy(LOGGING_CONFIG)
    settings["filters"] = {"repeats": {"()": "bot.repeats.RepeatFilter"}}
    for handler in settings["handlers"].values():
        handler["filters"] = ["repeats"]
    settings["root"] = {"handlers": ["default"], "level": "WARNING"}
    return settings


def protocol(limits: Limits) -> type[asyncio.Protocol]:
    """The guarded protocol class with these limits (uvicorn makes one per connection)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": limits})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the head and body timeouts and the connection cap."""

    limits: ClassVar[Limits] = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "head" or "body": what the timer is for
        self._header_timeout = self.limits.header_timeout

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        open_now, limits = len(self.connections), self.limits
        if open_now > limits.max_connections + limits.health_reserve:
            log.warning("over %d connections: refusing new ones", open_now - 1)
            transport.write(_BUSY)
            transport.close()
            return
        if open_now > limits.max_connections:
            log.warning(
                "over %d connections: answering only %s", limits.max_connections, HEALTH_PATH
            )
            self.app = cast(Any, _health_only(cast(ASGIApp, self.app)))
            self._header_timeout = min(self._header_timeout, limits.shed_header_timeout)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Time what the connection waits for: a request head, or the rest of a body."""
        if self.transport.is_closing():
            self._stop_timer()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._start_timer("head", self._header_timeout)
        elif state is h11.SEND_BODY:
            self._start_timer("body", self.limits.body_timeout)
        else:  # the whole request is in (or the connection is done with): no deadline
            self._stop_timer()

    def _start_timer(self, waiting_for: str, seconds: float) -> None:
        if self._waiting_for != waiting_for:
            self._stop_timer()
            self._waiting_for = waiting_for
            self._timer = self.loop.call_later(seconds, self._expired)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._waiting_for = None, None

    def _expired(self) -> None:
        waiting_for, self._timer, self._waiting_for = self._waiting_for, None, None
        if self.transport.is_closing():
            return
        if waiting_for == "head":
            log.warning("closed a connection that sent no complete request head in time")
            if self.conn.our_state is h11.IDLE:  # nothing answered yet on this connection
                self.transport.write(_TIMEOUT)
        else:
            log.warning("closed a connection whose request body did not arrive in time")
        self.transport.close()


def _health_only(app: ASGIApp) -> ASGIApp:
    """`app` for GET /healthz, 503 for anything else: a connection over the cap."""

    async def shed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == HEALTH_PATH and scope["method"] == "GET":
            await app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"retry-after", b"5"),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": b"Service Unavailable"})

    return shed
