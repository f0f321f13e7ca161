"""What a review costs, in exact dollars: frontier token prices, local GPU time, and the baseline.

Prices come from a `Prices` table (bot.core.pricing; bot.adapters.prices reads the packaged
`bot/prices.toml` and the operator's overrides). Arithmetic is exact `Decimal` from strings, so
monthly sums stay exact; values are rounded only for display. The local tier costs its GPU time;
the baseline is what the frontier model would have charged for the same prompt and output
length. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    localcontext,
)
from typing import Protocol

from bot.core.economics import GpuCost
from bot.core.pricing import CacheTTL, ModelPrice, Prices, non_negative
from bot.core.types import Usage

PER_MILLION = Decimal(1_000_000)

DEFAULT_GPU_COST = GpuCost()
"""The local GPU when the operator does not say: an owned 24 GB workstation card (bought for
$2,000, written off over 3 years: $0.0762 an hour, busy or idle), busy half of the time with
reviews, plus its power under load (350 W at $0.15 per kWh: $0.0525 a busy hour). See
bot.core.economics for owned, sunk and rented GPUs."""

DEFAULT_GPU_HOUR_USD = DEFAULT_GPU_COST.busy_hour_usd
"""The price of one busy GPU-hour under `DEFAULT_GPU_COST`, its share of the idle hours included:

    card:   $0.0762 / h over 50% utilisation  = $0.1524 per busy hour
    power:  0.35 kW x $0.15 / kWh             = $0.0525 per busy hour
    total:                                      $0.2049 per busy hour

The host machine and the operator's time are not counted. A rented GPU is dollars, not cents,
per hour (an H100), and a GPU busy a few percent of the time costs many times its hourly price
per busy hour: `tierbot report` shows the utilisation at which the local tier breaks even."""

DEFAULT_OUTPUT_TOKENS = 1_500
"""The output length assumed for a review before it runs: a summary and a handful of inline comments
in the JSON schema come to roughly 1,000-2,000 tokens."""

CHARS_PER_TOKEN = Decimal("3.5")
"""Characters per token that `estimate_tokens` assumes for code and diffs (prose runs nearer 4).
Claude 4.7 and later tokenizers count ~30% more tokens for the same text, so the estimate tends to
under-count, which understates the baseline and the saving: the conservative direction. Prefer the
SDK's token-counting call when a key is set."""

# 28 significant digits (Python's default, pinned here): token counts times prices are exact far
# below that; only divisions by seconds-per-hour and throughput can run on, and they stop there.
_EXACT = Context(prec=28, rounding=ROUND_HALF_EVEN)
_CENT = Decimal("0.01")
_FOUR_PLACES = Decimal("0.0001")


def frontier_cost(
    usage: Usage, price: ModelPrice, *, batch: bool = False, cache_ttl: CacheTTL = "5m"
) -> Decimal:
    """The dollars a frontier request charged: each kind of token at its price, cache writes at the
    price for their TTL; `batch` takes the batch discount off all of it, cache tokens included, as
    the Batches API does. Unrounded."""
    priced = (
        (usage.input_tokens, price.input),
        (usage.output_tokens, price.output),
        (usage.cache_write_tokens, price.cache_write(cache_ttl)),
        (usage.cache_read_tokens, price.cache_read),
    )
    if any(tokens < 0 for tokens, _ in priced):
        raise ValueError(f"token counts cannot be negative: {usage}")
    with localcontext(_EXACT):
        total = sum((tokens * rate for tokens, rate in priced), Decimal(0)) / PER_MILLION
        return total * (1 - price.batch_discount) if batch else total


def local_cost(
    gpu_seconds: float | Decimal, gpu_hour_usd: Decimal = DEFAULT_GPU_HOUR_USD
) -> Decimal:
    """The dollars `gpu_seconds` of local GPU time cost at `gpu_hour_usd` per busy GPU-hour (its
    share of the idle hours included: `GpuCost.busy_hour_usd`). A float is read by its repr, so
    0.1 seconds is exactly 0.1. Unrounded."""
    seconds = non_negative(gpu_seconds, "gpu_seconds")
    hour_price = non_negative(gpu_hour_usd, "gpu_hour_usd")
    with localcontext(_EXACT):
        return seconds * hour_price / 3600


def estimate_tokens(text: str) -> int:
    """An ESTIMATE of the tokens in `text`: characters / CHARS_PER_TOKEN, rounded up. For the
    baseline when no token-counting call is available; label what derives from it as estimated."""
    return tokens_for_chars(len(text))


def tokens_for_chars(chars: int) -> int:
    """The estimated tokens of a text of `chars` characters (see `estimate_tokens`)."""
    return int((Decimal(chars) / CHARS_PER_TOKEN).to_integral_value(rounding=ROUND_CEILING))


def baseline_cost(input_tokens: int, output_tokens: int, price: ModelPrice) -> Decimal:
    """What the frontier model would have charged for the same prompt and the same output length:
    list price, no cache and no batch discount, as one synchronous request would be billed."""
    return frontier_cost(Usage(input_tokens=input_tokens, output_tokens=output_tokens), price)


def round_usd(amount: Decimal) -> Decimal:
    """`amount` rounded half-up for display: to 4 places under $1 (a local review costs fractions
    of a cent that cents would show as $0.00), to the cent from $1 up. Store unrounded values."""
    four = amount.quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)
    if 0 < abs(four) < 1:
        return four
    return amount.quantize(_CENT, rounding=ROUND_HALF_UP)


def format_usd(amount: Decimal) -> str:
    """`amount` for people: "$12.34", "$1,234.50", "$0.0123"; "<$0.0001" for a cost too small to
    show, so a tiny cost never reads as free; "-$1.50" below zero."""
    if 0 < abs(amount) < Decimal("0.00005"):
        return ("-" if amount < 0 else "") + "<$0.0001"
    shown = round_usd(amount)
    return f"{'-' if shown < 0 else ''}${abs(shown):,}"


@dataclass(frozen=True, slots=True)
class Throughput:
    """How fast the local model reads a prompt and writes tokens, for estimating GPU time before a
    review runs (after it, the backend measures each request's share of the GPU).

    The defaults are published ExLlamaV2 figures, single-stream (no batching, so a batching worker
    does better and the estimate errs towards cost): Llama-3-8B-Instruct EXL2 8.0 bpw on one RTX
    4090 with flash-attention and an FP16 cache (the local backend's default), a prompt of 8,531
    tokens (about the local window) then 257 tokens generated from it: 8,929 prompt tokens/s and
    77.0 output tokens/s, rounded down (https://github.com/matt-c1/llama-cpp-speed-measurements,
    exl2_speed_data.csv, the row with cache_4bit False, flash_attn True, promptlen 8192). The
    operator sets a worker's own figures (TIERBOT_LOCAL_PREFILL_TOKENS_PER_SECOND and
    TIERBOT_LOCAL_DECODE_TOKENS_PER_SECOND); `tierbot report` fits them from the ledger."""

    prefill_tokens_per_second: Decimal = Decimal(8_900)
    decode_tokens_per_second: Decimal = Decimal(77)

    def __post_init__(self) -> None:
        if not (self.prefill_tokens_per_second > 0 and self.decode_tokens_per_second > 0):
            raise ValueError(f"throughput must be positive: {self}")

    def gpu_seconds(self, prompt_tokens: int, output_tokens: int) -> Decimal:
        """The estimated GPU seconds to read `prompt_tokens` and write `output_tokens`."""
        with localcontext(_EXACT):
            return (
                Decimal(prompt_tokens) / self.prefill_tokens_per_second
                + Decimal(output_tokens) / self.decode_tokens_per_second
            )


DEFAULT_THROUGHPUT = Throughput()


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """The ESTIMATED cost of a review on each tier before it runs, from its prompt tokens (usually
    `estimate_tokens`) and an assumed output length. Shown by `tierbot review` with no backend."""

    prompt_tokens: int
    output_tokens: int
    frontier_model: str
    frontier_usd: Decimal
    local_gpu_seconds: Decimal
    local_usd: Decimal
    gpu_hour_usd: Decimal

    @classmethod
    def for_review(
        cls,
        prompt_tokens: int,
        price: ModelPrice,
        *,
        output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        throughput: Throughput = DEFAULT_THROUGHPUT,
        gpu_hour_usd: Decimal = DEFAULT_GPU_HOUR_USD,
    ) -> CostEstimate:
        """Estimate a review of `prompt_tokens` on the frontier model priced by `price` and on the
        local GPU at `throughput` and `gpu_hour_usd` per busy GPU-hour."""
        seconds = throughput.gpu_seconds(prompt_tokens, output_tokens)
        return cls(
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            frontier_model=price.model,
            frontier_usd=baseline_cost(prompt_tokens, output_tokens, price),
            local_gpu_seconds=seconds,
            local_usd=local_cost(seconds, gpu_hour_usd),
            gpu_hour_usd=gpu_hour_usd,
        )


class AttemptLike(Protocol):
    """What pricing needs of one tier's try at a review (see bot.pipeline.review.Attempt)."""

    @property
    def tier(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def usage(self) -> Usage: ...
    @property
    def gpu_seconds(self) -> float: ...
    @property
    def prompt_tokens_estimate(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Spend:
    """What a review cost, and what the all-frontier review of the same work would have cost.

    `baseline_estimated` is True when no frontier request was made: the baseline is then the
    frontier price of the local prompt (estimated tokens) and the same output length.
    `frontier_usd` and `local_usd` are the review's own requests; checking its comments before
    they are posted costs `verify_frontier_usd` or `verify_local_usd` on top, which `spent_usd`
    includes and the baseline does not (an all-frontier review is not checked by default).
    """

    spent_usd: Decimal
    baseline_usd: Decimal
    baseline_estimated: bool
    frontier_usd: Decimal
    local_usd: Decimal
    verify_frontier_usd: Decimal = Decimal(0)
    verify_local_usd: Decimal = Decimal(0)

    @property
    def verify_usd(self) -> Decimal:
        """What checking the comments cost."""
        return self.verify_frontier_usd + self.verify_local_usd

    @property
    def saved_usd(self) -> Decimal:
        """The baseline less what was spent (negative when the review cost more)."""
        return self.baseline_usd - self.spent_usd


def review_spend(
    attempts: Sequence[AttemptLike],
    prices: Prices,
    frontier_model: str,
    gpu_hour_usd: Decimal = DEFAULT_GPU_HOUR_USD,
    verification: AttemptLike | None = None,
) -> Spend:
    """Price every attempt (an escalated review pays for both) against the baseline, and the
    checking of the comments (`verification`) on top, outside the baseline."""
    frontier = local = Decimal(0)
    baseline: Decimal | None = None
    estimated_baseline = Decimal(0)
    for attempt in attempts:
        if attempt.tier == "frontier":
            cost = frontier_cost(attempt.usage, prices.require(attempt.model))
            frontier += cost
            baseline = cost if baseline is None else baseline + cost
        else:
            local += local_cost(attempt.gpu_seconds, gpu_hour_usd)
            estimated_baseline += baseline_cost(
                max(attempt.prompt_tokens_estimate, attempt.usage.input_tokens),
                attempt.usage.output_tokens,
                prices.require(frontier_model),
            )
    verify_frontier = verify_local = Decimal(0)
    if verification is not None and verification.tier == "frontier":
        verify_frontier = frontier_cost(verification.usage, prices.require(verification.model))
    elif verification is not None:
        verify_local = local_cost(verification.gpu_seconds, gpu_hour_usd)
    return Spend(
        spent_usd=frontier + local + verify_frontier + verify_local,
        baseline_usd=baseline if baseline is not None else estimated_baseline,
        baseline_estimated=baseline is None and bool(attempts),
        frontier_usd=frontier,
        local_usd=local,
        verify_frontier_usd=verify_frontier,
        verify_local_usd=verify_local,
    )
