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
  is cut off, whether the app reads the body or not; the app sees a disconnect (bot.faces.app.web
  answers
  it as a refused delivery, not a 500);
- a connection cap: past `max_connections` open connections, a new connection takes the place
  of the one that has waited longest for the rest of its request (a slow client, answered 408
  and closed); when none is waiting (every connection is busy with a request the app is
  answering), the new one is shed: answered 503 (`Retry-After`) and closed before anything is
  read. A flood of slow clients thus keeps evicting itself, and a client that sends its request
  at once, such as a health probe, is served even while the cap is reached.

`raise_fd_limit` lifts the soft limit on open files to the hard one at start, and `fitted` keeps
the cap and the reserve under it with room for SQLite, logs and outbound connections. A flood
can still run the process out of descriptors (EMFILE): asyncio accepts up to `backlog`
connections in one round, before any of them reaches the cap. asyncio then pauses accepting
for a second, but Python 3.11's accept loop goes on after the error, logging it and scheduling
another restart up to `backlog` (2048) times per round, and each restart that runs after the
socket closed logs a traceback: that is how EMFILE wrote 176 MB of log in 40 s
(https://github.com/python/cpython/issues/151615). `event_loop` gives a loop whose accept
rounds are short (ACCEPTS_PER_ROUND) and stop at the first such error, and bot.adapters.repeats
keeps
what is still logged to a line a minute.
"""

from __future__ import annotations

import asyncio
import copy
import errno
import logging
import resource
import socket
import sys
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("tierbot.http")  # stdlib, like uvicorn's: it goes through RepeatFilter

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

    def __post_init__(self) -> None:
        if not (self.header_timeout > 0 and self.body_timeout > 0):
            raise ValueError(f"timeouts must be positive: {self}")
        if self.max_connections < 1:
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
    """`limits` with the cap under `fd_limit`, less a reserve of FD_RESERVE descriptors or a
    tenth of the limit, whichever is more."""
    cap = max(1, min(limits.max_connections, fd_limit - max(FD_RESERVE, fd_limit // 10)))
    if cap < limits.max_connections:
        log.warning(
            "connection cap lowered from %d to %d to stay under the open-file limit (%d)",
            limits.max_connections,
            cap,
            fd_limit,
        )
    return replace(limits, max_connections=cap)


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
    settings["filters"] = {"repeats": {"()": "bot.adapters.repeats.RepeatFilter"}}
    for handler in settings["handlers"].values():
        handler["filters"] = ["repeats"]
    settings["root"] = {"handlers": ["default"], "level": "WARNING"}
    return settings


def protocol(limits: Limits) -> type[asyncio.Protocol]:
    """The guarded protocol class with these limits (uvicorn makes one per connection); the
    connections of one server share its registry of those waiting for a request."""
    shared = {"limits": limits, "waiting": OrderedDict(), "closing": set()}
    return type("GuardedH11Protocol", (GuardedH11Protocol,), shared)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the head and body timeouts and the connection cap."""

    limits: ClassVar[Limits] = Limits()
    waiting: ClassVar[OrderedDict[GuardedH11Protocol, None]] = OrderedDict()
    """The connections waiting for (the rest of) a request, longest waiting first."""
    closing: ClassVar[set[GuardedH11Protocol]] = set()
    """Connections closed here whose `connection_lost` has not come yet: not counted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_for: str | None = None  # "head" or "body": what the timer is for

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) - len(self.closing) > self.limits.max_connections:
            oldest = next(iter(self.waiting), None)
            if oldest is None:
                log.warning("at the connection cap, every connection busy: shedding with 503")
                transport.write(_BUSY)
                self._close()
                return
            log.warning("at the connection cap: closing the slowest client for a new one")
            oldest._expired()
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        self.closing.discard(self)
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Time what the connection waits for: a request head, or the rest of a body."""
        if self.transport.is_closing():
            self._stop_timer()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._start_timer("head", self.limits.header_timeout)
        elif state is h11.SEND_BODY:
            self._start_timer("body", self.limits.body_timeout)
        else:  # the whole request is in (or the connection is done with): no deadline
            self._stop_timer()

    def _start_timer(self, waiting_for: str, seconds: float) -> None:
        if self._waiting_for != waiting_for:
            self._stop_timer()
            self._waiting_for = waiting_for
            self._timer = self.loop.call_later(seconds, self._expired)
            self.waiting[self] = None

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._waiting_for = None, None
        self.waiting.pop(self, None)

    def _expired(self) -> None:
        """Close a connection that ran out of time, or gave its place to a new one."""
        waiting_for = self._waiting_for
        self._stop_timer()
        if self.transport.is_closing():
            return
        if waiting_for == "head":
            log.warning("closed a connection that sent no complete request head in time")
            if self.conn.our_state is h11.IDLE:  # nothing answered yet on this connection
                self.transport.write(_TIMEOUT)
        else:
            log.warning("closed a connection whose request body did not arrive in time")
        self._close()

    def _close(self) -> None:
        self.closing.add(self)
        self.transport.close()


def event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop for `serve`; on Python 3.11, one whose accept round stops at EMFILE."""
    if sys.version_info[:2] == (3, 11):
        return _AcceptLoop()
    return asyncio.new_event_loop()


_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_RETRY_SECONDS = 1.0  # asyncio.constants.ACCEPT_RETRY_DELAY
ACCEPTS_PER_ROUND = 16
"""Connections accepted in one round of the loop. A connection reaches the cap (and closes the
one it replaces) three or four rounds after it was accepted, so a flood holds a few rounds' worth
of descriptors beyond the cap: this keeps them well under FD_RESERVE."""


class _AcceptLoop(asyncio.SelectorEventLoop):
    """Python 3.11's selector loop with its `_accept_connection` (Lib/asyncio/selector_events.py)
    changed: a round accepts at most ACCEPTS_PER_ROUND connections (not `backlog`, 2048), and
    after a resource error it returns, so one error is logged and one restart scheduled per
    round, not one per remaining backlog slot; a restart that comes after the socket closed
    does nothing."""

    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *timeouts: Any,
    ) -> None:
        loop: Any = self  # the private methods asyncio's own code calls here
        for _ in range(min(backlog, ACCEPTS_PER_ROUND)):
            try:
                conn, addr = sock.accept()
                conn.setblocking(False)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise  # the event loop logs it and goes on
                self.call_exception_handler(
                    {"message": "socket.accept() out of system resource", "exception": exc}
                )
                loop._remove_reader(sock.fileno())
                self.call_later(
                    _ACCEPT_RETRY_SECONDS,
                    self._restart,
                    protocol_factory,
                    sock,
                    sslcontext,
                    server,
                    backlog,
                    *timeouts,
                )
                return
            else:
                accepted = loop._accept_connection2(
                    protocol_factory, conn, {"peername": addr}, sslcontext, server, *timeouts
                )
                self.create_task(accepted)

    def _restart(self, protocol_factory: Any, sock: socket.socket, *args: Any) -> None:
        if sock.fileno() != -1:  # the server may have closed meanwhile
            loop: Any = self
            loop._start_serving(protocol_factory, sock, *args)
