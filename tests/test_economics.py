"""The local GPU's economics against hand-computed figures: what a busy hour costs owned, sunk or
rented, the utilisation at which the local tier breaks even, the throughput fitted from measured
requests, and the settings that choose them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.adapters.ledger.report import Report, TierReport
from bot.adapters.settings import Settings, SettingsError
from bot.core.cost import DEFAULT_GPU_HOUR_USD, DEFAULT_THROUGHPUT, local_cost
from bot.core.economics import (
    DEFAULT_CARD_HOUR_USD,
    DEFAULT_POWER_HOUR_USD,
    GpuBilling,
    GpuCost,
    LocalEconomics,
    fit_throughput,
    utilisation_words,
)
from bot.faces.cli.report_text import economics_lines

D = Decimal
RENTED_H100 = GpuCost(GpuBilling.RENTED, D("2.50"), D(0), D("0.25"))


# -- what a busy hour costs -----------------------------------------------------------------------


def test_the_default_is_an_owned_card_half_busy_plus_its_power() -> None:
    card = D(2_000) / (3 * 365 * 24)  # $2,000 over 3 years, every hour
    assert card <= DEFAULT_CARD_HOUR_USD < card + D("0.0001")
    assert D("0.350") * D("0.15") == DEFAULT_POWER_HOUR_USD  # 350 W at $0.15 / kWh
    assert GpuCost().busy_hour_usd == D("0.2049") == DEFAULT_GPU_HOUR_USD  # 0.0762 / 0.5 + 0.0525
    assert local_cost(3600) == D("0.2049")


def test_idle_hours_are_spread_over_the_busy_ones() -> None:
    assert RENTED_H100.busy_hour_usd == D(10)  # $2.50 an hour, busy a quarter of the time
    assert RENTED_H100.usd(360) == D(1)  # 0.1 busy hour
    full = GpuCost(GpuBilling.RENTED, D("2.50"), D(0), D(1))
    assert full.busy_hour_usd == D("2.50")


def test_a_sunk_gpu_costs_only_its_marginal_hour_whatever_the_utilisation() -> None:
    sunk = GpuCost.of(GpuBilling.SUNK, utilisation=D("0.01"))
    assert (sunk.hour_usd, sunk.marginal_hour_usd) == (D(0), DEFAULT_POWER_HOUR_USD)
    assert sunk.busy_hour_usd == DEFAULT_POWER_HOUR_USD
    with pytest.raises(ValueError, match="no hourly cost"):
        GpuCost(GpuBilling.SUNK, hour_usd=D("0.10"))


def test_each_billing_has_its_own_defaults() -> None:
    owned = GpuCost.of(GpuBilling.OWNED)
    assert (owned.hour_usd, owned.marginal_hour_usd) == (D("0.0762"), D("0.0525"))
    rented = GpuCost.of(GpuBilling.RENTED, hour_usd=D("2.50"))
    assert (rented.marginal_hour_usd, rented.utilisation) == (D(0), D("0.5"))
    with pytest.raises(ValueError, match="price per hour"):
        GpuCost.of(GpuBilling.RENTED)


@pytest.mark.parametrize("share", ["0", "-0.1", "1.01", "nan"])
def test_utilisation_is_a_share_above_zero_and_at_most_one(share: str) -> None:
    with pytest.raises(ValueError, match="utilisation"):
        GpuCost(utilisation=D(share))


# -- break-even -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpu", "seconds", "frontier", "share", "words"),
    [
        # $2.50 x 0.1 h / u = $1.00  ->  u = 0.25
        (RENTED_H100, 360, "1.00", D("0.25"), "25.0%"),
        # $0.20 x 1 h / u + $0.05 x 1 h = $0.45  ->  u = 0.20 / 0.40 = 0.5
        (GpuCost(GpuBilling.OWNED, D("0.20"), D("0.05")), 3600, "0.45", D("0.5"), "50.0%"),
        # $1 x 0.5 h / u = $0.40  ->  u = 1.25: not even a GPU busy all the time pays
        (GpuCost(GpuBilling.RENTED, D(1), D(0)), 1800, "0.40", D("1.25"), "never (125.0%"),
        # power alone: $0.0525 x 1 h = $0.0525 < $1: pays at any utilisation
        (GpuCost.of(GpuBilling.SUNK), 3600, "1", D(0), "any utilisation"),
        # power alone is more than the frontier would charge: never pays
        (GpuCost.of(GpuBilling.SUNK), 3600, "0.05", None, "never"),
    ],
)
def test_the_break_even_utilisation_on_known_prices(
    gpu: GpuCost, seconds: int, frontier: str, share: Decimal | None, words: str
) -> None:
    found = gpu.break_even(seconds, D(frontier))
    assert found == share
    assert utilisation_words(found).startswith(words)


def test_at_the_break_even_the_local_work_costs_what_the_frontier_would() -> None:
    owned = GpuCost(GpuBilling.OWNED, D("0.20"), D("0.05"))
    share = owned.break_even(3600, D("0.45"))
    assert share is not None
    at_break_even = GpuCost(GpuBilling.OWNED, D("0.20"), D("0.05"), share)
    assert at_break_even.usd(3600) == D("0.45")


def test_the_local_tiers_figures_over_a_span() -> None:
    figures = LocalEconomics(RENTED_H100, D(720), D("2.00"), span_hours=D(20))
    assert figures.usd == D(2)  # 0.2 busy hours at $10
    assert figures.break_even == D("0.25")  # $2.50 x 0.2 h / $2.00
    assert figures.span_utilisation == D("0.01")  # 0.2 h of 20
    assert LocalEconomics(RENTED_H100, D(0), D(0)).break_even is None
    assert LocalEconomics(RENTED_H100, D(720), D(2)).span_utilisation is None


# -- throughput -----------------------------------------------------------------------------------


def test_the_fitted_throughput_recovers_exact_rates() -> None:
    # seconds = prompt / 5,000 + output / 50
    measured = [(1_000, 100, D("2.2")), (4_000, 50, D("1.8")), (2_000, 200, D("4.4"))]
    fitted = fit_throughput(measured)
    assert fitted is not None
    assert fitted.prefill_tokens_per_second == 5_000
    assert fitted.decode_tokens_per_second == 50
    assert fitted.requests == 3


def test_requests_that_cannot_separate_the_rates_fit_nothing() -> None:
    assert fit_throughput([]) is None
    assert fit_throughput([(1_000, 100, D(3))]) is None
    assert fit_throughput([(1_000, 100, D(3)), (2_000, 200, D(6))]) is None  # same mix
    assert fit_throughput([(1_000, 100, D(30)), (1_000, 10, D(1))]) is None  # negative prefill


# -- settings -------------------------------------------------------------------------------------


def test_the_gpu_settings_build_the_gpu_cost_and_the_throughput() -> None:
    settings = Settings.from_env(
        {
            "TIERBOT_GPU_BILLING": "rented",
            "TIERBOT_GPU_HOUR_USD": "2.50",
            "TIERBOT_GPU_UTILISATION": "0.25",
            "TIERBOT_LOCAL_PREFILL_TOKENS_PER_SECOND": "12000",
            "TIERBOT_LOCAL_DECODE_TOKENS_PER_SECOND": "140.5",
        }
    )
    assert settings.gpu_cost == RENTED_H100
    assert settings.throughput.prefill_tokens_per_second == D(12_000)
    assert settings.throughput.decode_tokens_per_second == D("140.5")
    defaults = Settings.from_env({})
    assert defaults.gpu_cost == GpuCost()
    assert defaults.throughput == DEFAULT_THROUGHPUT
    owned = Settings.from_env({"TIERBOT_GPU_HOUR_USD": "0.75"}).gpu_cost
    assert (owned.billing, owned.busy_hour_usd) == (GpuBilling.OWNED, D("1.5525"))
    sunk = Settings.from_env(
        {"TIERBOT_GPU_BILLING": "sunk", "TIERBOT_GPU_MARGINAL_HOUR_USD": "0.1"}
    )
    assert sunk.gpu_cost.busy_hour_usd == D("0.1")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TIERBOT_GPU_BILLING": "leased"}, "TIERBOT_GPU_BILLING"),
        ({"TIERBOT_GPU_BILLING": "rented"}, "TIERBOT_GPU_HOUR_USD"),
        ({"TIERBOT_GPU_BILLING": "sunk", "TIERBOT_GPU_HOUR_USD": "1"}, "TIERBOT_GPU_HOUR_USD"),
        ({"TIERBOT_GPU_UTILISATION": "0"}, "TIERBOT_GPU_UTILISATION"),
        ({"TIERBOT_GPU_UTILISATION": "50%"}, "TIERBOT_GPU_UTILISATION"),
        ({"TIERBOT_GPU_UTILISATION": "1.5"}, "TIERBOT_GPU_UTILISATION"),
        ({"TIERBOT_GPU_MARGINAL_HOUR_USD": "-1"}, "TIERBOT_GPU_MARGINAL_HOUR_USD"),
        ({"TIERBOT_LOCAL_PREFILL_TOKENS_PER_SECOND": "0"}, "PREFILL"),
        ({"TIERBOT_LOCAL_DECODE_TOKENS_PER_SECOND": "fast"}, "DECODE"),
    ],
)
def test_a_bad_gpu_setting_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


# -- the report's words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpu", "frontier", "said"),
    [
        (GpuCost.of(GpuBilling.SUNK), "1", "break-even: at any utilisation"),
        (GpuCost.of(GpuBilling.SUNK), "0.05", "break-even: never: the GPU's marginal cost alone"),
        (RENTED_H100, "2", "break-even: never: it would need the GPU busy 125.0% of the time"),
        (RENTED_H100, "10", "break-even GPU utilisation: 25.0%: busy less than that"),
    ],
)
def test_the_report_says_where_the_local_tier_breaks_even(
    gpu: GpuCost, frontier: str, said: str
) -> None:
    """One busy hour of local work against what the frontier model would have charged for it."""
    local = TierReport("local", gpu_seconds=D(3600), baseline_usd=D(frontier))
    report = Report(repo=None, since=None, until=None, tiers=(local,))
    lines = economics_lines(report.economics_dict(gpu))
    assert any(line.startswith(said) for line in lines), lines
    assert lines[0].startswith("local GPU: sunk" if gpu.billing is GpuBilling.SUNK else "local GPU")


def test_a_report_without_local_work_has_no_break_even_to_show() -> None:
    report = Report(repo=None, since=None, until=None, tiers=(TierReport("frontier"),))
    data = report.economics_dict()
    assert (data["break_even_utilisation_pct"], data["break_even"]) == (None, None)
    assert economics_lines(data)[1] == "local tier: no GPU time recorded, so no break-even to show"
