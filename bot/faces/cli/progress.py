"""Progress on standard error while a model works: which model, how many parts have come back,
how long it has taken, and how many times a request was retried.

A review can wait minutes on a model; a command that prints nothing meanwhile looks hung. Once
work has run for more than a second, `Progress` keeps one status line on stderr, rewritten in
place each second and cleared when the work ends. It writes only to a terminal: piped or
redirected, stderr gets nothing from it. `ProgressBackend` wraps a model backend at the command
line's edge and reports each request to it; the review itself knows nothing of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TextIO, TypeVar, runtime_checkable

from bot.core.counts import counted
from bot.core.printable import printable
from bot.core.types import Backend, Completion, CompletionRequest

_CLEAR = "\r\x1b[K"  # back to the line's start, erase it


@dataclass(slots=True)
class _Model:
    tier: str
    started: int = 0
    answered: int = 0
    failed: int = 0


class Progress:
    """One status line on `stream`, shown after `delay` seconds of work and redrawn every
    `every` seconds while `run` is active; nothing at all when `stream` is not a terminal."""

    def __init__(
        self,
        stream: TextIO,
        *,
        delay: float = 1.0,
        every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._delay = delay
        self._every = every
        self._clock = clock
        self._models: dict[str, _Model] = {}
        self._retries = 0
        self._doing = ""
        self._since: float | None = None
        self._shown = False
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    def doing(self, what: str) -> None:
        """Name the step the work is at ("change 3 of 12: fix-retry"), shown first on the line."""
        self._doing = what

    def started(self, tier: str, model: str) -> None:
        """A request to `model` (of `tier`) has begun."""
        if self._since is None:
            self._since = self._clock()
        self._models.setdefault(model, _Model(tier)).started += 1

    def finished(self, model: str, *, ok: bool) -> None:
        """A request to `model` has ended, with an answer (`ok`) or without."""
        entry = self._models[model]
        if ok:
            entry.answered += 1
        else:
            entry.failed += 1

    def retried(self) -> None:
        """A request is being sent again (a timeout, a rate limit, an overloaded server)."""
        self._retries += 1

    def line(self) -> str:
        """The status as it stands: per model the parts answered of those sent, the elapsed
        time and the retries so far."""
        parts = []
        for model, entry in self._models.items():
            done = f"{entry.answered} of {counted(entry.started, 'part')} answered"
            if entry.failed:
                done += f", {entry.failed} failed"
            parts.append(f"{entry.tier} model {model}: {done}")
        elapsed = self._clock() - self._since if self._since is not None else 0.0
        status = "; ".join(parts) or "starting"
        if self._doing:
            status = f"{self._doing}: {status}"
        retries = f", {counted(self._retries, 'retry', 'retries')}" if self._retries else ""
        return printable(f"tierbot: {status} ({elapsed:.0f} s{retries})")

    def draw(self) -> None:
        """Redraw the status line, once work has run for longer than the delay."""
        if not self.enabled or self._since is None:
            return
        if self._clock() - self._since < self._delay:
            return
        self._stream.write(_CLEAR + self.line())
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the status line, if one is shown, so what follows starts on a clean line."""
        if self._shown:
            self._stream.write(_CLEAR)
            self._stream.flush()
            self._shown = False

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Redraw the line every `every` seconds while the block runs; clear it at the end."""
        ticker = asyncio.create_task(self._tick()) if self.enabled else None
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            self.clear()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            self.draw()


@runtime_checkable
class _ReportsRetries(Protocol):
    """A backend that says when its client sends a request again (bot.adapters.models.anthropic)."""

    on_retry: Callable[[], None] | None


class ProgressBackend:
    """A Backend that reports each request of the backend it wraps to a Progress, and the SDK's
    retries where the wrapped backend tells them (its `on_retry`)."""

    def __init__(self, inner: Backend, progress: Progress) -> None:
        self._inner = inner
        self._progress = progress
        if isinstance(inner, _ReportsRetries):
            inner.on_retry = progress.retried

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def model(self) -> str:
        return self._inner.model

    @property
    def context_tokens(self) -> int:
        return self._inner.context_tokens

    def unavailable_reason(self) -> str | None:
        return self._inner.unavailable_reason()

    async def complete(self, request: CompletionRequest) -> Completion:
        model = request.model or self._inner.model  # the cheapest model checks comments
        self._progress.started(self._inner.name, model)
        ok = False
        try:
            completion = await self._inner.complete(request)
            ok = True
            return completion
        finally:
            self._progress.finished(model, ok=ok)

    async def aclose(self) -> None:
        """Release what the wrapped backend holds."""
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


K = TypeVar("K")


def with_progress(backends: Mapping[K, Backend], progress: Progress) -> dict[K, Backend]:
    """The same backends, each reporting to `progress`."""
    return {key: ProgressBackend(backend, progress) for key, backend in backends.items()}
