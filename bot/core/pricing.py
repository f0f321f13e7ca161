"""Model prices: one row per model in USD per million tokens, read from the TOML text of a price
table and merged with operator overrides.

Pure: text and mappings in, a `Prices` table out. Reading the packaged file and the operator's
file is bot.adapters.prices' job. An unknown model is an error when its price is asked for
(`Prices.require`), never a silent $0. Numbers are exact `Decimal`s from strings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Literal, Self

CacheTTL = Literal["5m", "1h"]
Overrides = Mapping[str, Mapping[str, object]]

# Anthropic's prompt-caching multipliers of the base input price, used to fill the cache prices of a
# row an operator adds with only input and output:
# https://platform.claude.com/docs/en/about-claude/pricing (Prompt caching)
CACHE_WRITE_5M_MULTIPLIER = Decimal("1.25")
CACHE_WRITE_1H_MULTIPLIER = Decimal(2)
CACHE_READ_MULTIPLIER = Decimal("0.1")
# The Batches API bills all usage, cache writes and reads included, at 50% of the standard price:
# https://platform.claude.com/docs/en/build-with-claude/batch-processing (Pricing)
DEFAULT_BATCH_DISCOUNT = Decimal("0.5")

_PRICE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_FIELDS = (*_PRICE_FIELDS, "batch_discount", "source", "read_on", "note")
_REQUIRED_IN_FILE = frozenset(_FIELDS) - {"note"}
_REQUIRED_IN_NEW_OVERRIDE = frozenset({"input", "output"})


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


class Prices:
    """The prices of every model the app may call, by model id (bot.adapters.prices reads them
    from the packaged file and the operator's overrides)."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = dict(prices)

    @classmethod
    def parse(
        cls, text: str, overrides: Overrides | None = None, *, origin: str = "price file"
    ) -> Self:
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

    def cheapest(self) -> str:
        """The model with the lowest input plus output price (ties: the first by name): the
        one that checks a review's comments before they are posted."""
        if not self._prices:
            raise UnknownModelError("the price table has no models")
        return min(self._prices.values(), key=lambda p: (p.input + p.output, p.model)).model

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


def non_negative(value: object, what: str) -> Decimal:
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
            return non_negative(merged[name], f"{where}: field {name!r}")
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
