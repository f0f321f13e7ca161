"""The narrow protocol every model backend implements, and the data that crosses it.

A backend turns a CompletionRequest (a stable, cacheable prefix; the variable prompt; the JSON
schema the answer must follow) into a Completion (the text, its JSON if it parses, usage, time,
and for the local model per-token entropy), or raises ModelError with a kind the pipeline acts
on. Nothing here does I/O. The protocol lives in the core, beside the data, so that the core
and the reviewer can name a backend without importing one; the implementations are adapters
(bot.adapters.models) and import their heavy dependencies inside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one request used, by kind (cache writes and reads are billed differently)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
        )


@dataclass(frozen=True, slots=True)
class TokenStats:
    """Per generated token: the entropy (in nats) of the model's next-token distribution, and
    where the token's text ends in the completion's text (`offsets`, characters, aligned with
    `entropies`; empty when the backend did not say), so a part of the answer can be judged on
    its own tokens (`between`)."""

    entropies: tuple[float, ...]
    offsets: tuple[int, ...] = ()

    def between(self, start: int, end: int) -> TokenStats:
        """The tokens whose text ends after `start` and at or before `end`: the tokens of the
        text `[start, end)`, the one that straddles `start` included. Empty without offsets."""
        if len(self.offsets) != len(self.entropies):
            return TokenStats(())
        kept = [
            (entropy, offset)
            for entropy, offset in zip(self.entropies, self.offsets, strict=True)
            if start < offset <= end
        ]
        return TokenStats(tuple(e for e, _ in kept), tuple(o for _, o in kept))

    @property
    def mean(self) -> float:
        return sum(self.entropies) / len(self.entropies) if self.entropies else 0.0

    def quantile(self, q: float) -> float:
        """The q-quantile (0..1) of the entropies, by linear interpolation; 0 when empty."""
        if not self.entropies:
            return 0.0
        ordered = sorted(self.entropies)
        position = q * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One request. `system` and `stable` are the same across a repo's reviews and are cached by
    backends that can; `prompt` carries the change. `schema` is the JSON schema of the answer.
    `model`, when set, asks a backend that serves several models (the frontier API) for that one
    instead of its own (the cheapest model checks comments); a backend with one model ignores it."""

    system: str
    stable: str
    prompt: str
    schema: dict[str, Any]
    max_output_tokens: int = 4096
    label: str = ""
    model: str = ""


@dataclass(frozen=True, slots=True)
class Completion:
    """A backend's answer. `parsed` is the decoded JSON, or None when the text is not JSON."""

    text: str
    parsed: Any
    model: str
    backend: str
    usage: Usage
    wall_seconds: float
    stop_reason: str | None = None
    token_stats: TokenStats | None = None
    gpu_seconds: float = 0.0
    request_id: str | None = None


class ErrorKind(StrEnum):
    """What went wrong, in the terms the pipeline decides on."""

    OVERLOADED = "overloaded"  # try later or elsewhere
    RATE_LIMITED = "rate-limited"  # try later
    OUTAGE = "outage"  # the provider could not be reached, or failed on its side (5xx): try later
    TIMEOUT = "timeout"  # try again, maybe smaller
    REFUSED = "refused"  # the model declined; do not retry the same prompt
    BAD_OUTPUT = "bad-output"  # not the JSON asked for
    TOO_LARGE = "too-large"  # the prompt does not fit the model's window
    UNAVAILABLE = "unavailable"  # the backend cannot run here (no GPU, no key)
    AUTH = "auth"  # the key or permission is wrong
    API = "api"  # any other error the provider reported


@dataclass(eq=False)
class ModelError(Exception):
    """A request that did not give a usable completion; `message` says why in plain words."""

    kind: ErrorKind
    message: str
    backend: str = ""
    model: str = ""
    status: int | None = None
    usage: Usage = field(default_factory=Usage)

    def __str__(self) -> str:
        where = f"{self.backend} model {self.model}".strip() if self.backend else self.model
        return f"{where}: {self.kind}: {self.message}" if where else f"{self.kind}: {self.message}"


class Backend(Protocol):
    """A model that can review: the frontier API or the local GPU model."""

    @property
    def name(self) -> str:
        """`frontier` or `local`."""
        ...

    @property
    def model(self) -> str:
        """The model id, as prices and reports know it."""
        ...

    @property
    def context_tokens(self) -> int:
        """The most tokens a request (prompt and answer) may use."""
        ...

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run here (no GPU, no key), or None when it can."""
        ...

    async def complete(self, request: CompletionRequest) -> Completion:
        """Run one request; raise ModelError when no usable completion comes back."""
        ...
