"""Cost arithmetic against hand-computed figures; the price table, its overrides and its errors."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.adapters.prices import PriceTable
from bot.core.cost import (
    DEFAULT_GPU_HOUR_USD,
    DEFAULT_OUTPUT_TOKENS,
    CostEstimate,
    Throughput,
    baseline_cost,
    estimate_tokens,
    format_usd,
    frontier_cost,
    local_cost,
    round_usd,
)
from bot.core.pricing import ModelPrice, PriceError, UnknownModelError
from bot.core.types import Usage

D = Decimal
TABLE = PriceTable.load()

FULL_ROW = """
[models."m"]
input = "3"
output = "15"
cache_write_5m = "3.75"
cache_write_1h = "6"
cache_read = "0.3"
batch_discount = "0.5"
source = "https://example.test/pricing"
read_on = 2026-11-28
"""


def price(model: str) -> ModelPrice:
    return TABLE.require(model)


# -- the packaged table ---------------------------------------------------------------------------


def test_the_price_file_is_package_data_read_through_importlib_resources() -> None:
    packaged = resources.files("bot").joinpath("prices.toml")
    assert packaged.is_file()
    assert PriceTable.parse(packaged.read_text(encoding="utf-8")).models == TABLE.models


@pytest.mark.parametrize(
    ("model", "row"),
    [
        # input, output, 5-minute write (1.25x), 1-hour write (2x), cache read (0.1x)
        ("claude-opus-5-5", ("4", "20", "5", "8", "0.2")),
        ("claude-sonnet-5-5", ("2", "10", "2.5", "4", "0.2")),
        ("claude-haiku-5-5", ("0.10", "0.50", "0.125", "0.20", "0.01")),
        ("claude-opus-4-5", ("5", "25", "6.25", "10", "0.5")),
    ],
)
def test_each_packaged_row_holds_the_given_figures_with_a_source_and_date(
    model: str, row: tuple[str, ...]
) -> None:
    p = price(model)
    assert (p.input, p.output, p.cache_write_5m, p.cache_write_1h, p.cache_read) == tuple(
        D(value) for value in row
    )
    assert p.batch_discount == D("0.5")
    assert p.source.startswith("https://")
    assert isinstance(p.read_on, date)


def test_the_table_holds_exactly_the_four_given_models() -> None:
    assert TABLE.models == (
        "claude-haiku-5-5",
        "claude-opus-4-5",
        "claude-opus-5-5",
        "claude-sonnet-5-5",
    )
    assert "claude-opus-5-5" in TABLE
    assert "gpt-5" not in TABLE


# -- frontier cost --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-opus-5-5", "0.06294"),  # (12,345 x 4 + 678 x 20) / 1e6 = 62,940 / 1e6
        ("claude-sonnet-5-5", "0.03147"),  # (24,690 + 6,780) / 1e6
        ("claude-haiku-5-5", "0.0015735"),  # (1,234.5 + 339) / 1e6
        ("claude-opus-4-5", "0.078675"),  # (61,725 + 16,950) / 1e6
    ],
)
def test_input_and_output_tokens_at_each_rows_prices(model: str, expected: str) -> None:
    assert frontier_cost(Usage(input_tokens=12_345, output_tokens=678), price(model)) == D(expected)


def test_a_million_tokens_each_way_costs_the_two_list_prices() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert frontier_cost(usage, price("claude-opus-5-5")) == D(24)
    assert frontier_cost(usage, price("claude-haiku-5-5")) == D("0.60")


def test_cache_writes_cost_the_price_for_their_ttl() -> None:
    usage = Usage(cache_write_tokens=10_000)
    opus = price("claude-opus-4-5")
    assert frontier_cost(usage, opus) == D("0.0625")  # 10,000 x $6.25 / 1e6, 5 minutes by default
    assert frontier_cost(usage, opus, cache_ttl="5m") == D("0.0625")
    assert frontier_cost(usage, opus, cache_ttl="1h") == D("0.1")  # 10,000 x $10 / 1e6


def test_cache_reads_cost_the_read_price() -> None:
    assert frontier_cost(Usage(cache_read_tokens=10_000), price("claude-opus-4-5")) == D("0.005")
    assert frontier_cost(Usage(cache_read_tokens=10_000), price("claude-haiku-5-5")) == D("0.0001")


def test_every_kind_of_token_adds_up() -> None:
    usage = Usage(
        input_tokens=1_000, output_tokens=100, cache_write_tokens=2_000, cache_read_tokens=3_000
    )
    # 1,000 x 5 + 100 x 25 + 2,000 x 6.25 + 3,000 x 0.5 = 5,000 + 2,500 + 12,500 + 1,500 = 21,500
    assert frontier_cost(usage, price("claude-opus-4-5")) == D("0.0215")


def test_the_batch_discount_halves_everything_cache_tokens_included() -> None:
    usage = Usage(
        input_tokens=1_000, output_tokens=100, cache_write_tokens=2_000, cache_read_tokens=3_000
    )
    assert frontier_cost(usage, price("claude-opus-4-5"), batch=True) == D("0.01075")
    # 1-hour writes: 5,000 + 2,500 + 2,000 x 10 + 1,500 = 29,000 -> $0.029, halved
    assert frontier_cost(usage, price("claude-opus-4-5"), batch=True, cache_ttl="1h") == D("0.0145")


def test_an_unknown_cache_ttl_or_a_negative_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="cache TTL"):
        frontier_cost(Usage(cache_write_tokens=1), price("claude-opus-4-5"), cache_ttl="1d")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="negative"):
        frontier_cost(Usage(input_tokens=-1), price("claude-opus-4-5"))


counts = st.integers(min_value=0, max_value=10**9)
usages = st.builds(Usage, counts, counts, counts, counts)


@given(usages, usages, st.sampled_from(TABLE.models), st.sampled_from(["5m", "1h"]))
def test_costs_add_up_exactly_and_batch_is_exactly_half(
    a: Usage, b: Usage, model: str, ttl: Literal["5m", "1h"]
) -> None:
    p = price(model)
    together = frontier_cost(a + b, p, cache_ttl=ttl)
    assert together == frontier_cost(a, p, cache_ttl=ttl) + frontier_cost(b, p, cache_ttl=ttl)
    assert frontier_cost(a + b, p, batch=True, cache_ttl=ttl) * 2 == together


def test_no_tokens_cost_nothing() -> None:
    assert frontier_cost(Usage(), price("claude-opus-5-5")) == 0


# -- local cost -----------------------------------------------------------------------------------


def test_local_cost_is_gpu_time_at_the_gpu_hour_price() -> None:
    assert local_cost(3600) == DEFAULT_GPU_HOUR_USD
    assert local_cost(90, D("0.40")) == D("0.01")  # 90 s = 1/40 h x $0.40
    assert local_cost(D("1800"), D("0.21")) == D("0.105")
    assert local_cost(0) == 0


def test_a_float_of_gpu_seconds_is_read_by_its_repr() -> None:
    assert local_cost(0.1, D(36)) == D("0.001")  # not 0.1000000000000000055...


def test_the_default_gpu_hour_price_covers_the_documented_arithmetic() -> None:
    card = D(2_000) / (3 * 365 * 24 * D("0.5"))  # $2,000 over 3 years at 50% utilisation
    power = D("0.350") * D("0.15")  # 350 W at $0.15 / kWh
    assert card + power <= DEFAULT_GPU_HOUR_USD < card + power + D("0.01")


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "abc", True])
def test_gpu_seconds_must_be_a_non_negative_number(bad: object) -> None:
    with pytest.raises(ValueError, match="gpu_seconds"):
        local_cost(bad)  # type: ignore[arg-type]


# -- the baseline and the estimate ----------------------------------------------------------------


@pytest.mark.parametrize(("chars", "tokens"), [(0, 0), (1, 1), (7, 2), (8, 3), (3_500, 1_000)])
def test_the_token_estimate_is_characters_over_three_and_a_half_rounded_up(
    chars: int, tokens: int
) -> None:
    assert estimate_tokens("x" * chars) == tokens


def test_the_baseline_is_the_frontier_list_price_of_the_same_prompt_and_output() -> None:
    opus = price("claude-opus-5-5")
    assert baseline_cost(8_000, 1_500, opus) == D("0.062")  # 32,000 + 30,000 per 1e6
    assert baseline_cost(8_000, 1_500, opus) == frontier_cost(Usage(8_000, 1_500), opus)


def test_a_review_estimate_prices_each_tier() -> None:
    estimate = CostEstimate.for_review(8_000, price("claude-opus-5-5"), gpu_hour_usd=D("0.36"))
    assert estimate.output_tokens == DEFAULT_OUTPUT_TOKENS == 1_500
    assert estimate.frontier_model == "claude-opus-5-5"
    assert estimate.frontier_usd == D("0.062")
    assert estimate.local_gpu_seconds == D(8_000) / 8_900 + D(1_500) / 77
    on_round_figures = CostEstimate.for_review(
        8_900, price("claude-opus-5-5"), output_tokens=1_540, gpu_hour_usd=D("0.36")
    )
    assert on_round_figures.local_gpu_seconds == D(21)  # 8,900 / 8,900 prefill + 1,540 / 77 decode
    assert on_round_figures.local_usd == D("0.0021")  # 21 s x $0.36 / 3,600 s
    assert on_round_figures.frontier_usd == D("0.0664")  # 35,600 + 30,800 per 1e6


def test_a_review_estimate_takes_other_assumptions() -> None:
    fast = Throughput(prefill_tokens_per_second=D(4_000), decode_tokens_per_second=D(100))
    estimate = CostEstimate.for_review(
        4_000, price("claude-haiku-5-5"), output_tokens=500, throughput=fast, gpu_hour_usd=D(18)
    )
    assert estimate.local_gpu_seconds == D(6)  # 1 s + 5 s
    assert estimate.local_usd == D("0.03")
    assert estimate.frontier_usd == D("0.00065")  # 400 + 250 per 1e6


def test_throughput_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Throughput(decode_tokens_per_second=D(0))


# -- rounding and formatting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "rounded", "shown"),
    [
        ("12.345", "12.35", "$12.35"),  # half up, to the cent from $1
        ("1234.5", "1234.50", "$1,234.50"),
        ("0.012345", "0.0123", "$0.0123"),  # four places under $1
        ("0.01235", "0.0124", "$0.0124"),
        ("0.99996", "1.00", "$1.00"),  # rounds up to a dollar, so shown to the cent
        ("0", "0.00", "$0.00"),
        ("-1.5", "-1.50", "-$1.50"),
        ("0.00001", "0.00", "<$0.0001"),  # a tiny cost never reads as free
    ],
)
def test_rounding_and_formatting_for_display(amount: str, rounded: str, shown: str) -> None:
    assert str(round_usd(D(amount))) == rounded
    assert format_usd(D(amount)) == shown


def test_costs_are_kept_unrounded() -> None:
    """One token is priced to the nano-dollar: rounding is for display only."""
    assert frontier_cost(Usage(input_tokens=1), price("claude-haiku-5-5")) == D("0.0000001")


# -- overrides ------------------------------------------------------------------------------------


def test_a_partial_override_replaces_only_the_fields_it_names() -> None:
    table = PriceTable.load({"claude-opus-5-5": {"cache_read": "0.2"}})
    p = table.require("claude-opus-5-5")
    assert p.cache_read == D("0.2")
    assert (p.input, p.output, p.cache_write_5m) == (D(4), D(20), D(5))
    assert p.source.startswith("operator override (cache_read)")
    assert TABLE.require("claude-opus-5-5").cache_read == D("0.2")  # the packaged table is intact


def test_an_override_adds_a_model_with_cache_prices_from_the_standard_multipliers() -> None:
    table = PriceTable.load({"claude-next": {"input": "3", "output": 15}})
    p = table.require("claude-next")
    assert (p.input, p.output) == (D(3), D(15))
    assert (p.cache_write_5m, p.cache_write_1h, p.cache_read) == (D("3.75"), D(6), D("0.3"))
    assert p.batch_discount == D("0.5")
    assert p.source == "operator override (settings)"
    assert p.read_on is None


def test_an_override_may_give_a_full_row_with_floats_from_a_settings_file() -> None:
    table = PriceTable.load(
        {
            "local-proxy": {
                "input": 0.1,
                "output": 0.7,
                "cache_write_5m": 0,
                "cache_write_1h": 0,
                "cache_read": 0,
                "batch_discount": 0,
                "source": "https://example.test/rates",
                "read_on": "2026-11-01",
            }
        }
    )
    p = table.require("local-proxy")
    assert (p.input, p.output) == (D("0.1"), D("0.7"))
    assert p.read_on == date(2026, 11, 1)
    assert frontier_cost(Usage(1_000_000, 1_000_000), p, batch=True) == D("0.8")


# -- errors ---------------------------------------------------------------------------------------


def test_an_unknown_model_is_an_error_naming_it_and_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"'gpt-5'.*claude-opus-5-5"):
        TABLE.require("gpt-5")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('input = "-1"', "'m': field 'input' must be a non-negative decimal"),
        ('input = "four"', "'m': field 'input' must be a non-negative decimal"),
        ('output = "NaN"', "'m': field 'output' must be a non-negative decimal"),
        ("cache_read = true", "'m': field 'cache_read' must be a non-negative decimal"),
        ('batch_discount = "1.5"', "'m': field 'batch_discount' must be a fraction"),
        ('source = ""', "'m': field 'source' must be a non-empty string"),
        ('read_on = "soon"', "'m': field 'read_on' must be a date"),
        ('ouput = "1"', "'m': unknown field(s) ouput"),
    ],
)
def test_an_invalid_value_names_the_row_and_the_field(line: str, message: str) -> None:
    name = line.split(" =", maxsplit=1)[0]
    kept = [row for row in FULL_ROW.splitlines() if not row.startswith(f"{name} =")]
    with pytest.raises(PriceError, match=re.escape(message)):
        PriceTable.parse("\n".join([*kept, line]))


def test_every_field_of_a_file_row_is_required() -> None:
    text = FULL_ROW.replace('cache_write_1h = "6"\n', "")
    with pytest.raises(PriceError, match=r"'m': missing required field\(s\) cache_write_1h"):
        PriceTable.parse(text)


def test_floats_in_the_file_are_read_as_decimals() -> None:
    table = PriceTable.parse(FULL_ROW.replace('cache_read = "0.3"', "cache_read = 0.3"))
    assert table.require("m").cache_read == D("0.3")


def test_a_malformed_file_is_an_error() -> None:
    with pytest.raises(PriceError, match="not valid TOML"):
        PriceTable.parse("[models")
    with pytest.raises(PriceError, match="expected only"):
        PriceTable.parse('[prices."m"]\ninput = "1"')


def test_a_new_model_override_needs_input_and_output() -> None:
    with pytest.raises(PriceError, match=r"'claude-next': a new model needs field\(s\) output"):
        PriceTable.load({"claude-next": {"input": "3"}})


def test_an_invalid_override_names_the_row_and_the_field() -> None:
    with pytest.raises(PriceError, match="'claude-opus-5-5': field 'output'"):
        PriceTable.load({"claude-opus-5-5": {"output": "-20"}})
    with pytest.raises(PriceError, match="'claude-opus-5-5': expected a table"):
        PriceTable.load({"claude-opus-5-5": "4"})  # type: ignore[dict-item]


def test_an_operator_prices_file_overrides_and_adds_rows(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(
        '[models."claude-sonnet-5-5"]\ninput = "1.5"\n\n'
        '[models."house-model"]\ninput = "1"\noutput = "3"\n'
    )
    table = PriceTable.for_settings(str(path))
    assert table.require("claude-sonnet-5-5").input == D("1.5")
    assert table.require("claude-sonnet-5-5").output == D("10")
    assert table.require("house-model").cache_read == D("0.1")
    assert PriceTable.for_settings(None).require("claude-sonnet-5-5").input == D("2")
    with pytest.raises(PriceError, match="TIERBOT_PRICES_FILE"):
        PriceTable.for_settings(str(tmp_path / "missing.toml"))
