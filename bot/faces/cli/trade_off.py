"""What `tierbot report` adds about the trade-off: spend against the all-frontier baseline by
day, the shadow reviews, and the cost-quality curve of the routing threshold
(bot.core.calibration), as JSON, as text and as a plot (`--plot FILE.png`).

The plot is drawn with matplotlib's object API on its Agg canvas (no display, no global pyplot
state), imported only when a plot is asked for.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.adapters.ledger.shadows import TradeOff
from bot.core.calibration import Calibration, calibrate
from bot.core.cost import format_usd
from bot.core.interval import CONFIDENCE
from bot.faces.cli.calibrate import curve_json
from bot.faces.cli.exits import EXIT_INPUT_ERROR, Failure

if TYPE_CHECKING:  # matplotlib loads only for --plot
    from matplotlib.figure import Figure

FIGURE_INCHES = (12.0, 5.0)
FIGURE_DPI = 100
SPEND_AXES = ("day (UTC)", "cumulative spend (USD)")
CURVE_AXES = ("cost of the ledger's reviews at the threshold (USD)", "findings missed (%)")


def trade_off_json(trade_off: TradeOff, calibration: Calibration) -> dict[str, Any]:
    """`spend_by_day` (each UTC day's spend and baseline, and their running totals), `shadows`
    (by state, what they cost, and the finished ones' findings by who found them and severity)
    and `cost_quality` (the routing threshold's curve and recommendation at the default
    target, `calibration`), amounts as exact decimal strings."""
    spent = baseline = Decimal(0)
    days = []
    for day in trade_off.days:
        spent += day.spent_usd
        baseline += day.baseline_usd
        days.append(
            {
                "day": day.day.isoformat(),
                "spent_usd": str(day.spent_usd),
                "baseline_usd": str(day.baseline_usd),
                "cumulative_spent_usd": str(spent),
                "cumulative_baseline_usd": str(baseline),
            }
        )
    return {
        "spend_by_day": days,
        "shadows": {
            "states": trade_off.shadow_states,
            "usd": str(trade_off.shadow_usd),
            "findings": trade_off.shadow_findings,
        },
        "cost_quality": {
            "target_miss_rate": str(calibration.target),
            "confidence": CONFIDENCE,
            "problem": calibration.problem,
            **curve_json(calibration.routing),
        },
    }


def write_shadows(out: TextIO, shadows: dict[str, Any]) -> None:
    """The report's line on shadow reviews, when there were any."""
    states = shadows["states"]
    if not states:
        return
    done = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    found = shadows["findings"]
    out.write(
        f"shadow reviews: {sum(states.values())} ({done}) for "
        f"{format_usd(Decimal(shadows['usd']))}, in the spend above; findings of the finished "
        f"ones: both {sum(found['both'].values())}, only frontier "
        f"{sum(found['frontier'].values())}, only local {sum(found['local'].values())}\n"
    )


def plot_trade_off(trade_off: TradeOff, calibration: Calibration, path: Path) -> None:
    """Draw the trade-off (see `trade_off_figure`) into the PNG file `path`."""
    if path.suffix.lower() != ".png":
        raise Failure(
            f"--plot writes a PNG file: give a name ending in .png, not {path}", EXIT_INPUT_ERROR
        )
    figure = trade_off_figure(trade_off, calibration)
    try:
        figure.savefig(path, format="png", dpi=FIGURE_DPI)
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc.strerror or exc}", EXIT_INPUT_ERROR) from None


def trade_off_figure(trade_off: TradeOff, calibration: Calibration) -> Figure:
    """Two plots side by side: the running spend against the all-frontier baseline by day, and
    the routing threshold's cost against the share of findings missed, with its intervals."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    spend, curve = figure.subplots(1, 2)
    days = [day.day for day in trade_off.days]
    spent = _running([float(day.spent_usd) for day in trade_off.days])
    baseline = _running([float(day.baseline_usd) for day in trade_off.days])
    spend.plot(days, spent, marker="o", label="spent (routed, shadows included)")
    spend.plot(days, baseline, marker="o", linestyle="--", label="all-frontier baseline")
    spend.set_title("Spend against the all-frontier baseline")
    spend.set_xlabel(SPEND_AXES[0])
    spend.set_ylabel(SPEND_AXES[1])
    if days:
        spend.legend(loc="upper left")
        spend.tick_params(axis="x", labelrotation=30)
    else:
        _empty(spend, "no requests in the ledger")

    points = [p for p in calibration.routing.points if p.cost_usd is not None and p.measured]
    costs = [float(p.cost_usd or 0) for p in points]
    shares = [100 * (p.missed.share or 0.0) for p in points]
    below = [s - 100 * p.missed.low for s, p in zip(shares, points, strict=True)]
    above = [100 * p.missed.high - s for s, p in zip(shares, points, strict=True)]
    curve.errorbar(costs, shares, yerr=[below, above], marker="o", capsize=3, label="threshold")
    for point, x, y in zip(points, costs, shares, strict=True):
        curve.annotate(str(point.threshold), (x, y), textcoords="offset points", xytext=(4, 4))
    chosen = calibration.routing.recommended
    if chosen is not None and chosen.cost_usd is not None:
        curve.plot(
            [float(chosen.cost_usd)],
            [100 * (chosen.missed.share or 0.0)],
            marker="*",
            markersize=16,
            linestyle="none",
            label=f"recommended: {chosen.threshold}",
        )
    curve.axhline(100 * float(calibration.target), linestyle=":", label="target")
    curve.set_title("Routing threshold: cost against findings missed")
    curve.set_xlabel(CURVE_AXES[0])
    curve.set_ylabel(CURVE_AXES[1])
    curve.legend(loc="upper right")
    if not points:
        _empty(curve, calibration.problem or "no measured threshold")
    elif calibration.problem is not None:
        curve.text(0.02, 0.02, "too little data", transform=curve.transAxes)
    return figure


def _running(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out


def _empty(axes: Any, why: str) -> None:
    axes.text(0.5, 0.5, why, transform=axes.transAxes, ha="center", va="center", wrap=True)


def calibration_of(trade_off: TradeOff) -> Calibration:
    """The routing threshold's curve from the ledger's reviews and shadows, at the default
    target (bot.core.calibration)."""
    return calibrate(trade_off.reviews, trade_off.shadows)
