"""`tierbot calibrate`: for each routing and escalation threshold, what the ledger's work would
have cost and the share of major or critical findings the local model would have missed, with
its confidence interval; the cheapest threshold within the target, and the settings that apply
it (bot.core.calibration does the arithmetic)."""

from __future__ import annotations

import argparse
import sys
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TextIO

from bot.adapters.settings import Settings
from bot.core.calibration import DEFAULT_TARGET, Calibration, Curve, Point, calibrate
from bot.core.cost import format_usd
from bot.core.interval import CONFIDENCE
from bot.core.printable import json_line, printable
from bot.core.repo_settings import REPO_SETTINGS_PATH
from bot.faces.cli.columns import write_columns
from bot.faces.cli.exits import EXIT_INPUT_ERROR, EXIT_OK, Failure
from bot.faces.cli.ledger_read import read_ledger

_SHARE = Decimal("0.0001")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the calibration of the ledger's data."""
    target = _target(args.target_miss_rate)
    found = read_ledger(settings, lambda ledger: ledger.trade_off(repo=args.repo))
    calibration = calibrate(found.reviews, found.shadows, target)
    if args.format == "json":
        sys.stdout.write(json_line({"repo": args.repo, **calibration_json(calibration)}))
    else:
        write_calibration(sys.stdout, calibration)
    return EXIT_OK


def calibration_json(calibration: Calibration) -> dict[str, Any]:
    """The calibration as JSON-ready data: amounts as exact decimal strings, shares as numbers."""
    return {
        "target_miss_rate": str(calibration.target),
        "confidence": CONFIDENCE,
        "reviews": calibration.reviews,
        "shadows": calibration.shadows,
        "findings": calibration.findings,
        "problem": calibration.problem,
        "curves": {curve.setting: curve_json(curve) for curve in calibration.curves},
        "snippet": calibration.snippet(),
    }


def curve_json(curve: Curve) -> dict[str, Any]:
    """One curve as JSON-ready data."""
    return {
        "recommended": str(curve.recommended.threshold) if curve.recommended else None,
        "why": curve.why,
        "points": [_point_json(p) for p in curve.points],
    }


def write_calibration(out: TextIO, calibration: Calibration) -> None:
    """The calibration as text: a table per setting, the recommendations and the snippet."""
    out.write(
        f"From {calibration.shadows} finished shadow reviews with {calibration.findings} major "
        f"or critical findings, and {calibration.reviews} reviews; target: at most "
        f"{calibration.target:%} of the findings missed, at {CONFIDENCE:.0%} confidence.\n"
    )
    if calibration.problem is not None:
        out.write(f"\nNo recommendation: {calibration.problem}.\n")
    for curve in calibration.curves:
        out.write("\n")
        if not curve.points:
            out.write(f"{curve.setting}: {printable(curve.why)}.\n")
            continue
        share = "frontier" if curve.setting.startswith("routing") else "escalated"
        rows: list[tuple[str, ...]] = [
            (curve.setting, share, "cost", "missed", f"{CONFIDENCE:.0%} interval", "")
        ]
        rows += [_point_row(p, curve.recommended) for p in curve.points]
        write_columns(out, rows, numeric=(1, 2, 3), last_free=True)
        if curve.recommended is not None:
            out.write(
                f"Recommended {curve.setting}: {curve.recommended.threshold} ({curve.why}).\n"
            )
        elif calibration.problem is None:
            out.write(f"No recommendation for {curve.setting}: {curve.why}.\n")
    snippet = calibration.snippet()
    if snippet is not None:
        out.write(f"\nSettings for {REPO_SETTINGS_PATH}:\n\n{snippet}")


def _target(text: str | None) -> Decimal:
    if text is None:
        return DEFAULT_TARGET
    try:
        target = Decimal(text)
    except InvalidOperation:
        target = Decimal(-1)
    if not 0 < target < 1:
        raise Failure(
            f"--target-miss-rate must be a share between 0 and 1 (0.1 for 10%), not {text!r}",
            EXIT_INPUT_ERROR,
        )
    return target


def _point_json(point: Point) -> dict[str, Any]:
    missed = point.missed
    return {
        "threshold": str(point.threshold),
        "frontier_share": _share(point.frontier_share),
        "cost_usd": None if point.cost_usd is None else str(point.cost_usd),
        "missed": missed.successes,
        "findings": missed.trials,
        "miss_share": missed.share,
        "low": missed.low,
        "high": missed.high,
        "measured": point.measured,
        "meets_target": point.meets,
    }


def _share(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(_SHARE, rounding=ROUND_HALF_UP))


def _point_row(point: Point, recommended: Point | None) -> tuple[str, ...]:
    missed = point.missed
    share = "-" if point.frontier_share is None else f"{point.frontier_share:.1%}"
    note = "recommended" if point is recommended else ""
    if not point.measured:
        note = "not measured: no shadowed change reaches it"
    return (
        str(point.threshold),
        share,
        "-" if point.cost_usd is None else format_usd(point.cost_usd),
        f"{missed.successes}/{missed.trials}",
        f"{missed.low:.1%}-{missed.high:.1%}",
        note,
    )
