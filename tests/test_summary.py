"""The summary comment: what it says about a review, its cost, and a review that failed."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bot.core.anchor import Anchored, Comment
from bot.core.answer_schema import Severity
from bot.core.cost import Spend
from bot.core.diff import Side
from bot.core.markdown.rendered import problems
from bot.core.markers import OWN_HTML
from bot.core.packing import Coverage
from bot.core.result import Attempt, ReviewResult
from bot.core.routing import Decision, Task, Tier
from bot.core.summary import MonthToDate, render_summary
from bot.core.types import Usage

HEAD = "0123456789abcdef0123456789abcdef01234567"


def decision(tier: Tier = Tier.LOCAL) -> Decision:
    return Decision(
        tier=tier,
        model="qwen" if tier is Tier.LOCAL else "claude-sonnet-5-5",
        score=31,
        task=Task.REVIEW,
        reasons=("complexity 31 is below the threshold 45", "12 changed lines of substance"),
    )


def comment(severity: Severity, line: int) -> Comment:
    return Comment(
        "app/x.py", line, Side.RIGHT, severity, "bug", "Body.", fingerprint=f"{line:016x}"
    )


def result(**changes: object) -> ReviewResult:
    base = {
        "decision": decision(),
        "tier": Tier.LOCAL,
        "model": "qwen",
        "comments": (
            comment(Severity.MAJOR, 3),
            comment(Severity.NIT, 9),
            comment(Severity.MAJOR, 12),
        ),
        "summary": "Adds a cache.",
        "coverage": (
            Coverage("app/x.py", "reviewed"),
            Coverage("poetry.lock", "skipped", "generated, vendored, lock or data file"),
        ),
        "attempts": (Attempt(Tier.LOCAL, "qwen", 1, Usage(3000, 400), 2.0, 2.0),),
        "anchored": Anchored(comments=(), dropped={"cites a line the diff does not show": 2}),
    }
    base.update(changes)
    return ReviewResult(**base)  # type: ignore[arg-type]


SPEND = Spend(
    spent_usd=Decimal("0.0001"),
    baseline_usd=Decimal("0.0100"),
    baseline_estimated=True,
    frontier_usd=Decimal(0),
    local_usd=Decimal("0.0001"),
)


def test_a_review_summary_says_tier_why_counts_coverage_and_cost() -> None:
    body = render_summary(result(), SPEND, head_sha=HEAD)
    assert body.startswith("## tierbot review\n")
    assert f"at {HEAD[:7]} by" in body
    assert "by the **local** model `qwen`: 3 inline comments." in body
    assert "**Why local:** complexity 31/100 — complexity 31 is below the threshold 45" in body
    assert "Comments: 2 major, 1 nit" in body
    assert "1 file reviewed whole, 0 in part, 1 not reviewed, 0 excluded" in body
    assert "- `poetry.lock`: generated, vendored, lock or data file" in body
    assert "2 cited lines outside the diff and were dropped" in body
    assert "**Cost:** $0.0001 for 3,000 tokens in and 400 out" in body
    assert "would have charged $0.0100 (estimated), saving $0.0099 (99%)" in body
    assert "`/review full`" in body


def test_a_failed_review_says_so_and_never_reads_as_no_issues() -> None:
    failed = result(failed="every model request failed: overloaded", comments=())
    body = render_summary(failed, None, head_sha=HEAD)
    assert "**This pull request was not reviewed:** every model request failed: overloaded." in body
    assert "Nothing here means the change is fine" in body
    assert "no inline comments" not in body


def test_incremental_reviews_escalation_month_and_settings_problems_are_shown() -> None:
    escalated = result(
        tier=Tier.FRONTIER,
        model="claude-sonnet-5-5",
        escalation=("the model was unsure: mean token entropy 1.40 nats (limit 1.00)",),
    )
    body = render_summary(
        escalated,
        SPEND,
        head_sha=HEAD,
        incremental_from="fedcba9876543210",
        posted=2,
        repeated=1,
        month=MonthToDate(Decimal("1.50"), Decimal("6.00"), 40),
        settings_problems=("unknown key `treshold` ignored",),
        excluded=("vendor/a.js",),
    )
    assert "Reviewed (changes since fedcba9)" in body
    assert ": 2 inline comments." in body
    assert "**Escalated to the frontier model** because the model was unsure" in body
    assert "1 already made on an earlier commit" in body
    assert "This repo this month: 40 reviews, $1.50 spent against $6.00 all-frontier" in body
    assert "- unknown key `treshold` ignored" in body
    assert "1 excluded by settings" in body


def test_a_local_review_that_cost_more_than_the_frontier_would_says_so() -> None:
    dearer = Spend(
        spent_usd=Decimal("0.0300"),
        baseline_usd=Decimal("0.0250"),
        baseline_estimated=True,
        frontier_usd=Decimal(0),
        local_usd=Decimal("0.0300"),
    )
    body = render_summary(result(), dearer, head_sha=HEAD)
    assert (
        "the frontier model alone would have charged $0.0250 (estimated): this review cost "
        "$0.0050 (20%) more." in body
    )
    assert (
        "**The local GPU cost more than the frontier model would have** for this change: " in body
    )
    assert "$0.0300 of GPU time" in body
    assert "saving" not in body
    assert "cost more than the frontier" not in render_summary(result(), SPEND, head_sha=HEAD)


def test_an_escalated_review_that_cost_more_does_not_blame_a_cheap_gpu() -> None:
    both = Spend(
        spent_usd=Decimal("0.0260"),
        baseline_usd=Decimal("0.0250"),
        baseline_estimated=False,
        frontier_usd=Decimal("0.0250"),
        local_usd=Decimal("0.0010"),
    )
    body = render_summary(result(tier=Tier.FRONTIER), both, head_sha=HEAD)
    assert "this review cost $0.0010 (4%) more." in body
    assert "The local GPU cost more" not in body


def test_the_cost_rule_is_the_summarys_reason_for_the_frontier_tier() -> None:
    why = (
        "complexity 12 is below the threshold 45",
        "the local GPU would cost ~$0.0300 for this review, more than the frontier model's "
        "~$0.0255: using the frontier model",
    )
    routed = replace(decision(Tier.FRONTIER), score=12, reasons=why)
    body = render_summary(result(decision=routed, tier=Tier.FRONTIER), SPEND, head_sha=HEAD)
    assert (
        "**Why frontier:** complexity 12/100 — complexity 12 is below the threshold 45; the local "
        "GPU would cost \\~$0.0300 for this review, more than the frontier model's \\~$0.0255: "
        "using the frontier model" in body  # `~` escaped: GitHub would strike text through
    )


def test_text_from_the_pull_request_the_model_or_settings_is_shown_as_text() -> None:
    hostile = "@octocat <img src=x> ![p](https://e.example/p.png) #12 <!-- tierbot:paused -->"
    failed = result(failed=f"the answer was not usable: side must be RIGHT, not {hostile!r}")
    failed = replace(
        failed,
        coverage=(Coverage(f"docs/`{hostile}`.md", "skipped", hostile),),
        escalation=(hostile,),
        decision=replace(failed.decision, reasons=(f"repo settings send {hostile}",)),
    )
    body = render_summary(failed, None, head_sha=HEAD, settings_problems=(hostile,))
    assert problems(body, allowed_html=OWN_HTML) == []
    assert "tierbot:" not in body
