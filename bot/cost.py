"""What a review costs, in exact dollars: frontier token prices, local GPU time, and the baseline.

Prices come from `bot/prices.toml` (shipped in the package; each row names its source and the date
it was read) plus operator overrides from settings. An unknown model is an error when the app asks
for its price at start (`PriceTable.require`), never a silent $0. Arithmetic is exact `Decimal` from
strings, so monthly sums stay exact; values are rounded only for display. The local tier costs its
GPU time; the baseline is what the frontier model would have charged for the same prompt and output
length. Pure: the only I/O is reading the packaged file in `PriceTable.load`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from decimal import (
    ROUND_CEILING,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    InvalidOperation,
    localcontext,
)
from importlib import resources
from pathlib import Path
from typing import Literal, Protocol

from bot.core.types import Usage

CacheTTL = Literal["5m", "1h"]
Overrides = Mapping[str, Mapping[str, object]]

PRICES_FILE = "prices.toml"
PER_MILLION = Decimal(1_000_000)

# Anthropic's prompt-caching multipliers of the base input price, used to fill the cache prices of a
# row an operator adds with only input and output:
# https://platform.claude.com/docs/en/about-claude/pricing (Prompt caching)
CACHE_WRITE_5M_MULTIPLIER = Decimal("1.25")
CACHE_WRITE_1H_MULTIPLIER = Decimal(2)
CACHE_READ_MULTIPLIER = Decimal("0.1")
# The Batches API bills all usage, cache writes and reads included, at 50% of the standard price:
# https://platform.claude.com/docs/en/build-with-claude/batch-processing (Pricing)
DEFAULT_BATCH_DISCOUNT = Decimal("0.5")

DEFAULT_GPU_HOUR_USD = Decimal("0.21")
"""The price of one busy GPU-hour for the local tier: a 24 GB workstation card bought for $2,000,
written off over 3 years at 50% utilisation, plus its power under load.

    hours used:  3 y x 365 d x 24 h x 50%      = 13,140 h
    card:        $2,000 / 13,140 h             = $0.1522 / h
    power:       350 W = 0.35 kW x $0.15 / kWh = $0.0525 / h
    total:                                       $0.2047 / h, rounded up to $0.21

Rounded up so the comparison never flatters the local tier; the host machine and the operator's time
are not counted. Where the GPU is rented, set the rental price per hour instead (an H100 is dollars,
not cents, per hour)."""

DEFAULT_OUTPUT_TOKENS = 1_500
"""The output length assumed for a review before it runs: a summary and a handful of inline comments
in the JSON schema come to roughly 1,000-2,000 tokens."""

CHARS_PER_TOKEN = Decimal("3.5")
"""Characters per token that `estimate_tokens` assumes for code and diffs (prose runs nearer 4).
Claude 4.7 and later tokenizers count ~30% more tokens for the same text, so the estimate tends to
under-count, which understates the baseline and the saving: the conservative direction. Prefer the
SDK's token-counting call when a key is set."""

_PRICE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_FIELDS = (*_PRICE_FIELDS, "batch_discount", "source", "read_on", "note")
_REQUIRED_IN_FILE = frozenset(_FIELDS) - {"note"}
_REQUIRED_IN_NEW_OVERRIDE = frozenset({"input", "output"})
# 28 significant digits (Python's default, pinned here): token counts times prices are exact far
# below that; only divisions by seconds-per-hour and throughput can run on, and they stop there.
_EXACT = Context(prec=28, rounding=ROUND_HALF_EVEN)
_CENT = Decimal("0.01")
_FOUR_PLACES = Decimal("0.0001")


class PriceError(ValueError):
    """A price row that is missing a field or holds a value that is not a price."""


class UnknownModelError(LookupError):
    """A model with no price: an error at start, so its work is never counted as $0."""


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices in USD per million tokens; `batch_discount` is the fraction taken off."""

    model: str
    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    batch_discount: Decimal
    source: str
    read_on: date | None
    note: str = ""

    def cache_write(self, ttl: CacheTTL) -> Decimal:
        """The cache-write price for a cache entry that lives `ttl` ("5m" or "1h")."""
        if ttl not in ("5m", "1h"):
            raise ValueError(f"cache TTL must be '5m' or '1h', got {ttl!r}")
        return self.cache_write_5m if ttl == "5m" else self.cache_write_1h


class PriceTable:
    """The prices of every model the app may call, by model id."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = dict(prices)

    @classmethod
    def load(cls, overrides: Overrides | None = None) -> PriceTable:
        """The packaged price file with `overrides` (model id -> full or partial row) on top.

        A partial row for a known model replaces only the fields it names; a row for a new model
        needs at least `input` and `output` (see `PriceTable.parse`)."""
        text = resources.files("bot").joinpath(PRICES_FILE).read_text(encoding="utf-8")
        return cls.parse(text, overrides, origin=f"bot/{PRICES_FILE}")

    @classmethod
    def for_settings(cls, overrides_file: str | None) -> PriceTable:
        """The packaged prices with the operator's file of overrides on top, when one is set:
        TOML with `[models."MODEL"]` tables of full or partial rows (TIERBOT_PRICES_FILE)."""
        if not overrides_file:
            return cls.load()
        try:
            text = Path(overrides_file).read_text(encoding="utf-8")
            data = tomllib.loads(text, parse_float=Decimal)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PriceError(f"TIERBOT_PRICES_FILE {overrides_file}: {exc}") from exc
        rows = data.get("models", {})
        if not isinstance(rows, dict):
            raise PriceError(f"TIERBOT_PRICES_FILE {overrides_file}: [models] must be a table")
        return cls.load(overrides=rows)

    @classmethod
    def parse(
        cls, text: str, overrides: Overrides | None = None, *, origin: str = "price file"
    ) -> PriceTable:
        """A table from the TOML text of a price file, where every field of every row is required,
        then `overrides`. A new model's missing cache prices follow Anthropic's multipliers of its
        input price, its batch discount defaults to 50%, and its source says it came from settings.
        Numbers may be strings, ints, Decimals, or floats from a settings file (read by their repr,
        so 0.1 is 0.1)."""
        try:
            data = tomllib.loads(text, parse_float=Decimal)
        except tomllib.TOMLDecodeError as exc:
            raise PriceError(f"{origin}: not valid TOML: {exc}") from exc
        rows = data.get("models")
        if set(data) != {"models"} or not isinstance(rows, dict) or not rows:
            raise PriceError(f'{origin}: expected only [models."<model id>"] tables')
        prices = {model: _row(model, fields, None) for model, fields in rows.items()}
        for model, fields in (overrides or {}).items():
            prices[model] = _row(model, fields, prices.get(model), override=True)
        return cls(prices)

    @property
    def models(self) -> tuple[str, ...]:
        """The model ids with a price, sorted."""
        return tuple(sorted(self._prices))

    def __contains__(self, model: object) -> bool:
        return model in self._prices

    def require(self, model: str) -> ModelPrice:
        """The price row of `model`; raises UnknownModelError naming the known models otherwise."""
        price = self._prices.get(model)
        if price is None:
            known = ", ".join(self.models) or "none"
            raise UnknownModelError(
                f"no price for model {model!r} (known: {known}); add its row to the price "
                "overrides in settings, from the provider's pricing page"
            )
        return price


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
    """The dollars `gpu_seconds` of local GPU time cost at `gpu_hour_usd` per GPU-hour. A float is
    read by its repr, so 0.1 seconds is exactly 0.1. Unrounded."""
    seconds = _number(gpu_seconds, "gpu_seconds")
    hour_price = _number(gpu_hour_usd, "gpu_hour_usd")
    with localcontext(_EXACT):
        return seconds * hour_price / 3600


def estimate_tokens(text: str) -> int:
    """An ESTIMATE of the tokens in `text`: characters / CHARS_PER_TOKEN, rounded up. For the
    baseline when no token-counting call is available; label what derives from it as estimated."""
    tokens = Decimal(len(text)) / CHARS_PER_TOKEN
    return int(tokens.to_integral_value(rounding=ROUND_CEILING))


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
    """How fast the local model reads a prompt and writes tokens, for estimating GPU time. The
    defaults assume a 14B model quantised to ~4 bits (EXL2) on one 24 GB card: prefill 2,000
    tokens/s and decode 40 tokens/s, conservative for ExLlamaV2 so estimates err towards cost."""

    prefill_tokens_per_second: Decimal = Decimal(2_000)
    decode_tokens_per_second: Decimal = Decimal(40)

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
        local GPU at `throughput` and `gpu_hour_usd`."""
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


def _number(value: object, what: str) -> Decimal:
    """A finite, non-negative Decimal from a string, int, Decimal or float (read by its repr)."""
    problem = f"{what} must be a non-negative decimal number, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(problem)
    try:
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise ValueError(problem) from None
    if not number.is_finite() or number < 0:
        raise ValueError(problem)
    return number


def _row(
    model: object, fields: object, base: ModelPrice | None, *, override: bool = False
) -> ModelPrice:
    """Validate one row; an override of a known model is merged over that model's row `base`."""
    where = f"price row {model!r}"
    if not isinstance(model, str) or not model.strip():
        raise PriceError(f"{where}: the model id must be a non-empty string")
    if not isinstance(fields, Mapping):
        raise PriceError(f"{where}: expected a table of fields, got {fields!r}")
    unknown = sorted(str(name) for name in fields if name not in _FIELDS)
    if unknown:
        raise PriceError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {_FIELDS}")

    def number(name: str) -> Decimal:
        try:
            return _number(merged[name], f"{where}: field {name!r}")
        except ValueError as exc:
            raise PriceError(str(exc)) from None

    merged: dict[str, object] = dict(fields)
    if base is not None:
        changed = ", ".join(name for name in _FIELDS if name in fields)
        merged = {name: getattr(base, name) for name in _FIELDS}
        merged["source"] = f"operator override ({changed}); the rest: {base.source}"
        merged.update(fields)
    elif override:
        if missing := sorted(_REQUIRED_IN_NEW_OVERRIDE - set(fields)):
            raise PriceError(f"{where}: a new model needs field(s) {', '.join(missing)}")
        entered = number("input")
        merged = {
            "cache_write_5m": entered * CACHE_WRITE_5M_MULTIPLIER,
            "cache_write_1h": entered * CACHE_WRITE_1H_MULTIPLIER,
            "cache_read": entered * CACHE_READ_MULTIPLIER,
            "batch_discount": DEFAULT_BATCH_DISCOUNT,
            "source": "operator override (settings)",
            "read_on": None,
            **fields,
        }
    missing = sorted(_REQUIRED_IN_FILE - set(merged))
    if missing:
        raise PriceError(f"{where}: missing required field(s) {', '.join(missing)}")
    discount = number("batch_discount")
    if discount > 1:
        raise PriceError(f"{where}: field 'batch_discount' must be a fraction from 0 to 1")
    source, note = merged["source"], merged.get("note", "")
    if not isinstance(source, str) or not source.strip():
        raise PriceError(f"{where}: field 'source' must be a non-empty string")
    if not isinstance(note, str):
        raise PriceError(f"{where}: field 'note' must be a string")
    return ModelPrice(
        model=model,
        input=number("input"),
        output=number("output"),
        cache_write_5m=number("cache_write_5m"),
        cache_write_1h=number("cache_write_1h"),
        cache_read=number("cache_read"),
        batch_discount=discount,
        source=source,
        read_on=_date(merged["read_on"], where),
        note=note,
    )


def _date(value: object, where: str) -> date | None:
    """A row's `read_on`: a TOML date or an ISO string; None only in an operator's own row."""
    if isinstance(value, datetime):
        return value.date()
    if value is None or isinstance(value, date):
        return value
    with suppress(ValueError):
        return date.fromisoformat(value) if isinstance(value, str) else None
    raise PriceError(f"{where}: field 'read_on' must be a date (YYYY-MM-DD), got {value!r}")


class AttemptLike(Protocol):
    """What pricing needs of one tier's try at a review (see bot.reviewer.Attempt)."""

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
    """

    spent_usd: Decimal
    baseline_usd: Decimal
    baseline_estimated: bool
    frontier_usd: Decimal
    local_usd: Decimal

    @property
    def saved_usd(self) -> Decimal:
        return self.baseline_usd - self.spent_usd


def review_spend(
    attempts: Sequence[AttemptLike],
    prices: PriceTable,
    frontier_model: str,
    gpu_hour_usd: Decimal = DEFAULT_GPU_HOUR_USD,
) -> Spend:
    """Price every attempt (an escalated review pays for both) against the baseline."""
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
    return Spend(
        spent_usd=frontier + local,
        baseline_usd=baseline if baseline is not None else estimated_baseline,
        baseline_estimated=baseline is None and bool(attempts),
        frontier_usd=frontier,
        local_usd=local,
    )
