"""The price table file and the operator's overrides: where the core's `Prices` come from.

The packaged `bot/prices.toml` (each row names its source and the date it was read) plus the
operator's TOML file of overrides (TIERBOT_PRICES_FILE). Parsing and checking are the core's
(bot.core.pricing); this module only reads the files.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path

from bot.core.pricing import Overrides, PriceError, Prices

PRICES_FILE = "prices.toml"


class PriceTable(Prices):
    """`Prices` read from the packaged price file, with the operator's overrides on top."""

    @classmethod
    def load(cls, overrides: Overrides | None = None) -> PriceTable:
        """The packaged price file with `overrides` (model id -> full or partial row) on top.

        A partial row for a known model replaces only the fields it names; a row for a new model
        needs at least `input` and `output` (see `Prices.parse` in bot.core.pricing)."""
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
