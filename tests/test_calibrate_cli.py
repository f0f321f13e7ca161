"""`tierbot calibrate` and `tierbot report --plot` on a synthetic ledger whose right answer is
known: the samples of tests/test_calibration.py written as reviews, shadow reviews, findings and
feedback through the Ledger, read back by the commands. The plot is rendered to a PNG and
looked at: its size, and its axes' titles, labels and data on the Figure."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.adapters.ledger import Ledger
from bot.core.anchor import Anchored, Comment
from bot.core.answer_schema import Severity
from bot.core.calibration import calibrate
from bot.core.confidence import Verdict
from bot.core.cost import Spend
from bot.core.diff import Side
from bot.core.matching import Finding, Matched
from bot.core.packing import Coverage
from bot.core.result import Attempt, ReviewResult
from bot.core.routing import Decision, Task, Tier
from bot.core.shadow import Shadow, ShadowState
from bot.core.types import Usage
from bot.faces.cli.main import main
from bot.faces.cli.trade_off import (
    CURVE_AXES,
    FIGURE_DPI,
    FIGURE_INCHES,
    SPEND_AXES,
    trade_off_figure,
)
from bot.pipeline.shadow import shadow_spend

START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
FRONTIER = "claude-sonnet-5-5"
LOCAL_USD, BASELINE_USD, SHADOW_USD = Decimal("0.001"), Decimal("0.01"), Decimal("0.01")


def remark(line: int, severity: Severity = Severity.MAJOR, name: str = "") -> Comment:
    return Comment(
        "app/x.py", line, Side.RIGHT, severity, "bug", "Body.", fingerprint=f"fp{line}{name}"
    )


def reviewed(
    ledger: Ledger, score: int, tier: Tier, spend: Spend, at: datetime, verdict: Verdict | None
) -> tuple[int, Attempt]:
    model = "qwen" if tier is Tier.LOCAL else FRONTIER
    attempt = Attempt(tier, model, 1, Usage(3000, 400), 2.0, 1.5, verdict=verdict)
    result = ReviewResult(
        decision=Decision(tier, model, score, Task.REVIEW, ("scored",)),
        tier=tier,
        model=model,
        comments=(),
        summary="",
        coverage=(Coverage("app/x.py", "reviewed"),),
        attempts=(attempt,),
        anchored=Anchored(comments=()),
    )
    review_id = ledger.record_review(
        repo="octo/app",
        number=score + 1,
        head_sha="a" * 40,
        trigger="pull_request.opened",
        result=result,
        spend=spend,
        comments_posted=(),
        at=at,
    )
    return review_id, attempt


def synthetic_ledger(ledger: Ledger) -> None:
    """The samples of tests/test_calibration.py: twenty shadowed local reviews scored 0 to 95
    over twenty days, each with two major findings of the frontier model, one missed from 50
    up; two frontier reviews scored 97. The review scored 0 also has a local-only finding people
    liked (it counts) and a finding of both models people gave a 👎 (it does not)."""
    local_spend = Spend(LOCAL_USD, BASELINE_USD, True, Decimal(0), LOCAL_USD)
    for day, score in enumerate(range(0, 100, 5)):
        at = START + timedelta(days=day)
        hard = score >= 50
        verdict = Verdict(False, (), 0.8 if hard else 0.2, 2.6 if hard else 1.0, 0)
        review_id, local = reviewed(ledger, score, Tier.LOCAL, local_spend, at, verdict)
        findings = [
            Finding(remark(10), remark(11)),
            Finding(None, remark(40)) if hard else Finding(remark(40), remark(41)),
        ]
        if score == 0:
            findings += [Finding(remark(60, name="liked"), None), Finding(remark(80), remark(80))]
            ledger.record_feedback(
                repo="octo/app", number=1, fingerprint="fp60liked", kind="thumbs_up"
            )
            ledger.record_feedback(
                repo="octo/app", number=1, fingerprint="fp80", kind="thumbs_down"
            )
        frontier = Attempt(Tier.FRONTIER, FRONTIER, 1, Usage(3000, 400), 5.0, 0.0)
        shadow = Shadow(
            ShadowState.DONE, FRONTIER, local, frontier, SHADOW_USD, Matched(tuple(findings))
        )
        ledger.record_shadow(
            review_id=review_id,
            repo="octo/app",
            number=score + 1,
            shadow=shadow,
            spend=shadow_spend(shadow),
            at=at,
        )
    frontier_spend = Spend(Decimal("0.02"), Decimal("0.02"), False, Decimal("0.02"), Decimal(0))
    for _ in range(2):
        reviewed(ledger, 97, Tier.FRONTIER, frontier_spend, START + timedelta(days=19), None)


def floats(values: Any) -> list[float]:
    """A line's data (a sequence or an array, as matplotlib keeps it) as floats."""
    return [float(value) for value in values]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ledger.sqlite3"
    monkeypatch.setenv("TIERBOT_DATABASE_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def filled(database: Path) -> Path:
    ledger = Ledger(f"sqlite:///{database}")
    ledger.migrate()
    synthetic_ledger(ledger)
    ledger.close()
    return database


def test_calibrate_recommends_the_known_thresholds_from_the_ledger(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--format", "json", "--repo", "octo/app"]) == 0
    data = json.loads(capsys.readouterr().out)
    # 40 findings, the liked local one, not the one with a 👎.
    assert (data["reviews"], data["shadows"], data["findings"], data["problem"]) == (
        22,
        20,
        41,
        None,
    )
    routing = data["curves"]["routing.threshold"]
    assert routing["recommended"] == "50"
    fifty = next(p for p in routing["points"] if p["threshold"] == "50")
    assert Decimal(fifty["cost_usd"]) == 10 * LOCAL_USD + 10 * BASELINE_USD + 2 * Decimal("0.02")
    assert (fifty["frontier_share"], fifty["missed"], fifty["findings"]) == ("0.5455", 0, 41)
    assert fifty["meets_target"] is True
    top = routing["points"][-1]
    assert (top["threshold"], top["measured"], top["meets_target"]) == ("100", False, False)
    assert data["curves"]["escalation.mean_entropy"]["recommended"] == "0.7"
    assert data["curves"]["escalation.quantile_entropy"]["recommended"] == "2.5"
    assert data["snippet"] == (
        "routing:\n  threshold: 50\nescalation:\n  mean_entropy: 0.7\n  quantile_entropy: 2.5\n"
    )
    assert main(["calibrate", "--repo", "someone/else", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["shadows"] == 0


def test_calibrate_prints_the_curves_the_recommendations_and_the_snippet(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate", "--target-miss-rate", "0.25"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "From 20 finished shadow reviews with 41 major or critical findings, and 22 reviews; "
        "target: at most 25% of the findings missed, at 95% confidence.\n"
    )
    assert "Recommended routing.threshold: 70 (the cheapest measured threshold" in out
    assert "not measured: no shadowed change reaches it" in out
    assert out.endswith(
        "Settings for .github/tierbot.yml:\n\nrouting:\n  threshold: 70\nescalation:\n"
        "  mean_entropy: 0.7\n  quantile_entropy: 2.5\n"
    )
    assert main(["calibrate", "--target-miss-rate", "10%"]) == 2
    assert "--target-miss-rate must be a share between 0 and 1" in capsys.readouterr().err


def test_calibrate_on_an_empty_ledger_says_there_is_too_little_data(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["calibrate"]) == 0
    out = capsys.readouterr().out
    assert "No recommendation: too little data: 0 finished shadow reviews with 0 major or " in out
    assert "Settings for" not in out
    assert main(["calibrate", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["problem"].startswith("too little data")
    assert data["snippet"] is None


def test_report_has_the_spend_by_day_the_shadows_and_the_cost_quality_curve(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "trade-off.png"
    assert main(["report", "--format", "json", "--plot", str(png)]) == 0
    data = json.loads(capsys.readouterr().out)
    days = data["spend_by_day"]
    assert len(days) == 20
    # Each day a local review ($0.001) and its shadow ($0.01); the last, two frontier reviews.
    assert Decimal(days[0]["spent_usd"]) == LOCAL_USD + SHADOW_USD
    assert Decimal(days[0]["baseline_usd"]) == BASELINE_USD
    assert Decimal(days[-1]["cumulative_spent_usd"]) == 20 * (LOCAL_USD + SHADOW_USD) + Decimal(
        "0.04"
    )
    assert Decimal(days[-1]["cumulative_baseline_usd"]) == 20 * BASELINE_USD + Decimal("0.04")
    assert Decimal(data["spend_usd"]) == Decimal(days[-1]["cumulative_spent_usd"])
    assert data["shadows"]["states"] == {"done": 20}
    assert Decimal(data["shadows"]["usd"]) == 20 * SHADOW_USD
    assert data["shadows"]["findings"]["frontier"] == {"major": 10}
    assert data["cost_quality"]["recommended"] == "50"
    assert len(data["cost_quality"]["points"]) == 21

    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (
            int(FIGURE_INCHES[0] * FIGURE_DPI),
            int(FIGURE_INCHES[1] * FIGURE_DPI),
        )
    assert main(["report"]) == 0
    assert (
        "shadow reviews: 20 (20 done) for $0.2000, in the spend above; findings of the finished "
        "ones: both 31, only frontier 10, only local 1\n"
    ) in capsys.readouterr().out
    assert main(["report", "--plot", str(tmp_path / "trade-off.svg")]) == 2


def test_the_plot_draws_spend_against_the_baseline_and_the_curve(filled: Path) -> None:
    ledger = Ledger(f"sqlite:///{filled}")
    trade_off = ledger.trade_off()
    ledger.close()
    calibration = calibrate(trade_off.reviews, trade_off.shadows)
    figure = trade_off_figure(trade_off, calibration)
    spend, curve = figure.axes
    assert (spend.get_xlabel(), spend.get_ylabel()) == SPEND_AXES
    assert (curve.get_xlabel(), curve.get_ylabel()) == CURVE_AXES
    assert spend.get_title() == "Spend against the all-frontier baseline"
    spent, baseline = spend.get_lines()
    assert floats(spent.get_ydata())[-1] == pytest.approx(0.26)
    assert floats(baseline.get_ydata())[-1] == pytest.approx(0.24)
    assert len(floats(spent.get_ydata())) == 20
    # The recommended threshold is starred at its cost and missed share.
    star = next(line for line in curve.get_lines() if line.get_label() == "recommended: 50")
    assert floats(star.get_xdata()) == [pytest.approx(0.15)]
    assert floats(star.get_ydata()) == [0.0]
    labels = {text.get_text() for text in curve.texts}
    assert {"0", "50", "95"} <= labels
    assert "100" not in labels  # not measured: not drawn


def test_the_plot_of_an_empty_ledger_says_there_is_no_data(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "empty.png"
    assert main(["report", "--plot", str(png)]) == 0
    with Image.open(png) as image:
        assert image.size == (1200, 500)
