"""The GPU side of `savings.py`: the local GPU's cost from the command line (the same choices as
the bot's TIERBOT_GPU_* settings), and the table of savings across GPU prices and utilisations
side by side, with the utilisation at which the local tier breaks even at each price.

Every price and utilisation is routed again, the cost rule included (a review goes frontier
when the local GPU would cost more for it than the frontier model), so a column shows what the
bot would do and save at that price. The row without the cost rule shows what routing on the
score alone would save at the same prices.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Protocol

from bot.core.economics import GpuBilling, GpuCost, percent

TABLE_UTILISATIONS = (Decimal("0.05"), Decimal("0.1"), Decimal("0.25"), Decimal("0.5"), Decimal(1))
"""The utilisations the table compares: the share of the paid hours the GPU is busy reviewing."""

TABLE_PRICES: tuple[tuple[str, Callable[[Decimal], GpuCost]], ...] = (
    ("sunk", lambda u: GpuCost.of(GpuBilling.SUNK, utilisation=u)),
    ("owned", lambda u: GpuCost.of(GpuBilling.OWNED, utilisation=u)),
    ("$0.21/h", lambda u: GpuCost(GpuBilling.RENTED, Decimal("0.21"), Decimal(0), u)),
    ("$1/h", lambda u: GpuCost(GpuBilling.RENTED, Decimal(1), Decimal(0), u)),
    ("$2.50/h", lambda u: GpuCost(GpuBilling.RENTED, Decimal("2.50"), Decimal(0), u)),
)
"""The table's columns: a sunk card (its power only, $0.0525 a busy hour), the bot's default
owned card ($0.0762 an hour amortised plus its power), and hourly prices paid busy or idle with
the power included: $0.21 (a workstation card's all-in hour), $1 (a rented A100-class GPU) and
$2.50 (a rented H100)."""


@dataclass(frozen=True, slots=True)
class Priced:
    """A set of changes routed at one GPU's cost: routed + escalation, all-frontier, and how
    many reviews went local."""

    spent: Decimal
    baseline: Decimal
    local: int


class Routing(Protocol):
    """What the table needs of `savings.py`: a set of changes routed at any GPU's cost."""

    @property
    def total(self) -> int:
        """The changes in the set."""
        ...

    def at(self, gpu: GpuCost, cost_rule: bool) -> Priced:
        """The set routed and priced at `gpu`, with the cost rule or on the score alone."""
        ...

    def local_work(self) -> tuple[Decimal, Decimal]:
        """The GPU-seconds and the all-frontier cost of the reviews the score sends local."""
        ...


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The GPU's cost, as the bot's settings give it (README, Configuration)."""
    parser.add_argument(
        "--gpu-billing",
        choices=[b.value for b in GpuBilling],
        default=GpuBilling.OWNED.value,
        help="how the local GPU is paid for, as TIERBOT_GPU_BILLING (default owned)",
    )
    parser.add_argument(
        "--gpu-hour-usd",
        type=_dollars,
        help="its cost per hour, busy or idle, as TIERBOT_GPU_HOUR_USD (owned default 0.0762)",
    )
    parser.add_argument(
        "--gpu-marginal-hour-usd",
        type=_dollars,
        help="what a busy hour adds (power), as TIERBOT_GPU_MARGINAL_HOUR_USD",
    )
    parser.add_argument(
        "--gpu-utilisation",
        type=_share,
        help="the share of its paid hours it is busy, as TIERBOT_GPU_UTILISATION (default 0.5)",
    )


def gpu_from(args: argparse.Namespace) -> GpuCost:
    """The GPU's cost from the arguments `add_arguments` declared."""
    return GpuCost.of(
        GpuBilling(args.gpu_billing),
        hour_usd=args.gpu_hour_usd,
        marginal_hour_usd=args.gpu_marginal_hour_usd,
        utilisation=args.gpu_utilisation,
    )


def describe(gpu: GpuCost) -> list[str]:
    """The GPU's cost in words, for the assumptions block: how it is paid for, then what a busy
    hour costs."""
    if gpu.billing is GpuBilling.SUNK:
        paid = "sunk: only its power counts"
    else:
        paid = (
            f"{gpu.billing.value}, ${gpu.hour_usd} an hour busy or idle,"
            f" busy {percent(gpu.utilisation)}% of the time"
        )
    return [
        paid,
        f"plus ${gpu.marginal_hour_usd} per busy hour: ${gpu.busy_hour_usd:.4f} per busy hour",
    ]


def price_table(routing: Routing, rate: Decimal) -> list[str]:
    """Savings (routed + escalation against all-frontier) and the share kept local, per GPU
    price (columns) and utilisation (rows), then the same without the cost rule, then each
    price's break-even utilisation."""
    names = [name for name, _ in TABLE_PRICES]
    width = 13
    head = f"  {'utilisation':>11}" + "".join(f"{name:>{width}}" for name in names)
    lines = [
        f"savings across GPU prices and utilisations (routed + {percent(rate)}% escalation against",
        "all-frontier; cell: saving / share of reviews kept local; the cost rule on):",
        head,
    ]
    plain: list[str] = []
    for share in TABLE_UTILISATIONS:
        cells, bare = [], []
        for _, build in TABLE_PRICES:
            gpu = build(share)
            ruled, unruled = routing.at(gpu, True), routing.at(gpu, False)
            cells.append(f"{_saving(ruled)} / {_pct(ruled.local, routing.total)}")
            bare.append(_saving(unruled))
        row = f"  {f'{percent(share)}%':>11}"
        lines.append(row + "".join(f"{cell:>{width}}" for cell in cells))
        plain.append(row + "".join(f"{cell:>{width}}" for cell in bare))
    lines += ["without the cost rule (score routing only), saving:", head, *plain]
    lines.append(
        f"  {'break-even':>11}"
        + "".join(f"{_break_even(routing, build, rate):>{width}}" for _, build in TABLE_PRICES)
    )
    lines += [
        "  break-even: the utilisation below which the local tier, as the score routes it, costs",
        "  more than the frontier model would (escalations counted); any: its power costs less",
    ]
    return lines


def _break_even(routing: Routing, build: Callable[[Decimal], GpuCost], rate: Decimal) -> str:
    """Where the local tier breaks even at this price: its GPU time against the frontier cost it
    saves, less the share of its reviews that escalate and pay the frontier model anyway."""
    seconds, frontier = routing.local_work()
    share = build(Decimal(1)).break_even(seconds, (1 - rate) * frontier)
    if share is None:
        return "never"
    if share == 0:
        return "any"
    return f"{percent(share)}%" if share <= 1 else f">100% ({percent(share)}%)"


def _saving(priced: Priced) -> str:
    if not priced.baseline:
        return "-"
    return f"{float(100 * (1 - priced.spent / priced.baseline)):.1f}%"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _dollars(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be an amount in dollars >= 0, not {text!r}")
    return value


def _share(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value.is_finite() or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a share above 0, at most 1, not {text!r}")
    return value
