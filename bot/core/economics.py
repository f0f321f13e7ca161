"""What the local tier's GPU costs, and the utilisation at which it pays for itself.

A GPU is paid for in one of three ways (`GpuBilling`): owned, at an amortised cost per hour paid
whether it is busy or idle, plus the marginal cost (power) of each busy hour; sunk, owned and
already written off, so only the marginal cost counts; rented, at an hourly price paid whether
busy or idle (power included). The idle hours are spread over the work by the share of paid hours
the GPU is busy with it (`utilisation`), so a review's cost is its GPU-seconds times
`busy_hour_usd`. The break-even utilisation is where the local tier's GPU cost equals what the
frontier model would have charged for the same work; below it, the local tier costs more.

The throughput a worker achieves (batching included) is fitted from what the ledger measured:
each local request's prompt and output tokens against its GPU-seconds. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum

from bot.core.pricing import non_negative

_EXACT = Context(prec=28)
_SECONDS_PER_HOUR = Decimal(3600)

DEFAULT_CARD_HOUR_USD = Decimal("0.0762")
"""An owned 24 GB workstation card's amortised cost per hour, busy or idle: $2,000 written off
over 3 years (3 x 365 x 24 = 26,280 h) is $0.07610 an hour, rounded up."""

DEFAULT_POWER_HOUR_USD = Decimal("0.0525")
"""The marginal cost of a busy hour of an owned card: 350 W under load at $0.15 per kWh. A rented
GPU's price includes its power, so its marginal cost defaults to 0."""

DEFAULT_UTILISATION = Decimal("0.5")
"""The share of the paid hours the GPU is busy with reviews, when the operator does not say."""


class GpuBilling(StrEnum):
    """How the local GPU is paid for: `owned` (amortised per hour, plus power when busy), `sunk`
    (already paid for: power when busy only) or `rented` (an hourly price, busy or idle)."""

    OWNED = "owned"
    SUNK = "sunk"
    RENTED = "rented"


@dataclass(frozen=True, slots=True)
class GpuCost:
    """What the local GPU costs: `hour_usd` paid every hour, busy or idle (0 when sunk),
    `marginal_hour_usd` added by each busy hour, and `utilisation`, the share of the paid hours
    it is busy with reviews (0 to 1), which spreads the idle hours over the work."""

    billing: GpuBilling = GpuBilling.OWNED
    hour_usd: Decimal = DEFAULT_CARD_HOUR_USD
    marginal_hour_usd: Decimal = DEFAULT_POWER_HOUR_USD
    utilisation: Decimal = DEFAULT_UTILISATION

    def __post_init__(self) -> None:
        non_negative(self.hour_usd, "hour_usd")
        non_negative(self.marginal_hour_usd, "marginal_hour_usd")
        if not (0 < non_negative(self.utilisation, "utilisation") <= 1):
            raise ValueError(f"utilisation must be a share above 0, at most 1: {self.utilisation}")
        if self.billing is GpuBilling.SUNK and self.hour_usd:
            raise ValueError("a sunk GPU has no hourly cost, only its marginal cost when busy")

    @classmethod
    def of(
        cls,
        billing: GpuBilling = GpuBilling.OWNED,
        *,
        hour_usd: Decimal | None = None,
        marginal_hour_usd: Decimal | None = None,
        utilisation: Decimal | None = None,
    ) -> GpuCost:
        """The cost of a GPU paid for by `billing`, each figure not given at its default: an
        owned card's amortised hour and power, no hourly cost when sunk, no marginal cost when
        rented. A rented GPU needs its price per hour."""
        if billing is GpuBilling.RENTED and hour_usd is None:
            raise ValueError("a rented GPU needs its price per hour")
        if hour_usd is None:
            hour_usd = Decimal(0) if billing is GpuBilling.SUNK else DEFAULT_CARD_HOUR_USD
        if marginal_hour_usd is None:
            rented = billing is GpuBilling.RENTED
            marginal_hour_usd = Decimal(0) if rented else DEFAULT_POWER_HOUR_USD
        share = DEFAULT_UTILISATION if utilisation is None else utilisation
        return cls(billing, hour_usd, marginal_hour_usd, share)

    @property
    def busy_hour_usd(self) -> Decimal:
        """What one busy GPU-hour costs, its share of the idle hours included: the hourly cost
        over the utilisation, plus the marginal cost."""
        with localcontext(_EXACT):
            return self.hour_usd / self.utilisation + self.marginal_hour_usd

    def usd(self, gpu_seconds: Decimal | float) -> Decimal:
        """The dollars `gpu_seconds` of busy GPU time cost, idle share included. Unrounded."""
        seconds = non_negative(gpu_seconds, "gpu_seconds")
        with localcontext(_EXACT):
            return seconds * self.busy_hour_usd / _SECONDS_PER_HOUR

    def break_even(self, gpu_seconds: Decimal | float, frontier_usd: Decimal) -> Decimal | None:
        """The utilisation (a share; above 1 cannot be reached) at which `gpu_seconds` of local
        work cost what the frontier model charges for the same work, `frontier_usd`: solving
        hour x busy / u + marginal x busy = frontier for u. 0 when the local work pays at any
        utilisation (no hourly cost, and the marginal cost below the frontier's); None when it
        never pays (its marginal cost alone reaches the frontier's) or there was no work."""
        seconds = non_negative(gpu_seconds, "gpu_seconds")
        frontier = non_negative(frontier_usd, "frontier_usd")
        with localcontext(_EXACT):
            busy_hours = seconds / _SECONDS_PER_HOUR
            room = frontier - self.marginal_hour_usd * busy_hours
            if room <= 0:
                return None
            return self.hour_usd * busy_hours / room


def utilisation_words(share: Decimal | None) -> str:
    """A break-even utilisation for people: "any utilisation", "18.3%", "never" (with the
    share that would be needed when it is above 100%)."""
    if share is None:
        return "never"
    if share == 0:
        return "any utilisation"
    shown = percent(share)
    return f"{shown}%" if share <= 1 else f"never ({shown}% would be needed)"


def percent(share: Decimal) -> Decimal:
    """`share` (0.183) in percent to 0.1 (18.3), half up."""
    return (share * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Fitted:
    """The throughput a worker achieved, fitted over `requests` measured requests: GPU-seconds
    = prompt tokens / `prefill_tokens_per_second` + output tokens / `decode_tokens_per_second`."""

    prefill_tokens_per_second: Decimal
    decode_tokens_per_second: Decimal
    requests: int


def fit_throughput(measured: Iterable[tuple[int, int, Decimal]]) -> Fitted | None:
    """Least squares of GPU-seconds on prompt and output tokens, through the origin, over
    `measured` (prompt tokens, output tokens, GPU-seconds) of local requests; None when the
    requests cannot separate the two rates (fewer than two kinds of prompt-to-output mix) or
    the fit is not positive."""
    xx = xy = yy = xs = ys = Decimal(0)
    count = 0
    with localcontext(_EXACT):
        for prompt, output, seconds in measured:
            x, y = Decimal(prompt), Decimal(output)
            xx += x * x
            xy += x * y
            yy += y * y
            xs += x * seconds
            ys += y * seconds
            count += 1
        determinant = xx * yy - xy * xy
        if determinant <= 0:
            return None
        per_prompt = (xs * yy - ys * xy) / determinant
        per_output = (ys * xx - xs * xy) / determinant
        if per_prompt <= 0 or per_output <= 0:
            return None
        return Fitted(1 / per_prompt, 1 / per_output, count)


@dataclass(frozen=True, slots=True)
class LocalEconomics:
    """The local tier's work over a span, priced at `gpu`: `gpu_seconds` it was busy (escalated
    work included), `baseline_usd`, what the frontier model would have charged for the work that
    stood on the local tier, and `span_hours`, the span the figures cover (None: unknown)."""

    gpu: GpuCost
    gpu_seconds: Decimal
    baseline_usd: Decimal
    span_hours: Decimal | None = None

    @property
    def usd(self) -> Decimal:
        """The local tier's work priced at `gpu`, idle share at its utilisation included."""
        return self.gpu.usd(self.gpu_seconds)

    @property
    def break_even(self) -> Decimal | None:
        """The utilisation at which the local tier costs what frontier would have (see
        `GpuCost.break_even`); None without GPU time."""
        if not self.gpu_seconds:
            return None
        return self.gpu.break_even(self.gpu_seconds, self.baseline_usd)

    @property
    def span_utilisation(self) -> Decimal | None:
        """The share of the span the GPU was busy with this work: its utilisation if it served
        nothing else. None when the span is unknown or empty."""
        if not self.span_hours:
            return None
        with localcontext(_EXACT):
            return self.gpu_seconds / _SECONDS_PER_HOUR / self.span_hours
