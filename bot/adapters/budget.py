"""The monthly frontier budget as a hard cap: money is held before each frontier request, then
settled to what the request cost.

Checking the month's spend once, when a review is routed, lets concurrent reviews each pass the
check and together overshoot it, and says nothing about the requests an escalation or an answer
makes later. So every frontier request goes through `BudgetedBackend`, which first asks its
`Purse` to hold the most the request can cost (`request_ceiling`), and sends it only when the
hold is granted; once the request answers (or fails), the hold is set to what it cost. A purse
grants a hold only when every budget that applies (`Limit`: the installation's, the repo's) has
room for it after everything spent or held so far this month; the ledger's purse does the check
and the write in one transaction that concurrent holders take in turn (Ledger.hold in
bot.adapters.ledger). A request whose hold is refused is not sent: it fails as `unavailable`,
with the figures.

A hold is the most a request can cost, so a month's charges never pass a budget: tokens are
counted at one per byte of the request's text (a byte-level BPE token covers at least one byte;
the real count is usually 3 to 4 times lower) plus the API's framing, at the dearest input price
(cache writes), and every output token the request allows at the output price. A process that
dies between the hold and the settlement leaves the hold counted at that ceiling.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bot.core.cost import PER_MILLION, format_usd, frontier_cost
from bot.core.pricing import ModelPrice, Prices
from bot.core.types import Backend, Completion, CompletionRequest, ErrorKind, ModelError, Usage

FRAMING_TOKENS = 512
"""Tokens the Messages API adds around a request's text (roles, the schema's instructions)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """One monthly frontier budget in US dollars: an installation's (`installation_id`) or a
    repo's (`repo`, owner/name); `who` names it in messages ("this installation")."""

    usd: Decimal
    who: str
    installation_id: int | None = None
    repo: str | None = None


def over(limit: Limit, charged: Decimal, usd: Decimal) -> str | None:
    """Why a hold of `usd` does not fit `limit` when `charged` is already spent or held this
    month; None when it fits."""
    left = limit.usd - charged
    if usd <= left:
        return None
    return (
        f"the month's frontier budget would be exceeded: the request may cost up to "
        f"{format_usd(usd)} and {format_usd(max(left, Decimal(0)))} of the "
        f"{format_usd(limit.usd)} budget of {limit.who} is left "
        f"({format_usd(charged)} spent or held)"
    )


def request_ceiling(request: CompletionRequest, price: ModelPrice) -> Decimal:
    """The most `request` can cost on a model with `price` (see the module docstring)."""
    text = "".join((request.system, request.stable, request.prompt, json.dumps(request.schema)))
    tokens = len(text.encode("utf-8")) + FRAMING_TOKENS
    dearest = max(price.input, price.cache_write_5m, price.cache_write_1h)
    return (tokens * dearest + request.max_output_tokens * price.output) / PER_MILLION


class Purse(Protocol):
    """Where holds are granted and settled (blocking calls; the backend runs them in a thread)."""

    def hold(self, usd: Decimal) -> int | str:
        """Hold `usd` against every budget that applies: the hold's id, or why it is refused."""
        ...

    def settle(self, hold: int, usd: Decimal) -> None:
        """Set the hold to what the request cost."""
        ...


class BudgetedBackend:
    """A frontier backend whose every request is held against the budgets first, priced at the
    model it asks for (`prices`: the backend's own model, or the one the request names)."""

    def __init__(self, backend: Backend, purse: Purse, prices: Prices) -> None:
        self._backend = backend
        self._purse = purse
        self._prices = prices

    @property
    def name(self) -> str:
        return self._backend.name

    @property
    def model(self) -> str:
        return self._backend.model

    @property
    def context_tokens(self) -> int:
        return self._backend.context_tokens

    def unavailable_reason(self) -> str | None:
        return self._backend.unavailable_reason()

    async def complete(self, request: CompletionRequest) -> Completion:
        price = self._prices.require(request.model or self._backend.model)
        ceiling = request_ceiling(request, price)
        held = await asyncio.to_thread(self._purse.hold, ceiling)
        if isinstance(held, str):
            raise ModelError(
                ErrorKind.UNAVAILABLE, held, backend=self.name, model=self.model, usage=Usage()
            )
        try:
            completion = await self._backend.complete(request)
        except ModelError as exc:
            await asyncio.to_thread(self._purse.settle, held, frontier_cost(exc.usage, price))
            raise
        await asyncio.to_thread(self._purse.settle, held, frontier_cost(completion.usage, price))
        return completion
