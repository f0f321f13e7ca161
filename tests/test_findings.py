"""Matching a review's comments to the findings a person expected (bot.core.findings), and the
figures of an evaluation run (bot.core.scorecard) on hand-made results whose answer is known."""

from __future__ import annotations

from decimal import Decimal

from bot.core.anchor import Comment
from bot.core.answer_schema import Severity
from bot.core.cost import Spend
from bot.core.diff import Side
from bot.core.findings import Expected, Span, hits, match
from bot.core.result import Attempt
from bot.core.routing import Tier
from bot.core.scorecard import Scored, Status, totals
from bot.core.types import Usage


def comment(
    path: str,
    line: int,
    side: Side = Side.RIGHT,
    body: str = "x",
    start_line: int | None = None,
) -> Comment:
    return Comment(path, line, side, Severity.MAJOR, "bug", body, start_line=start_line)


def finding(path: str, line: int, side: Side = Side.RIGHT) -> Expected:
    return Expected(path, (Span(side, line, line),), "major")


def test_the_same_finding_worded_differently_on_a_nearby_line_matches() -> None:
    human = finding("net/retry.py", 26)
    assert hits(comment("net/retry.py", 26, body="attempt never increases"), human)
    assert hits(comment("net/retry.py", 23, body="This loop cannot end."), human)
    assert hits(comment("net/retry.py", 29, body="Infinite loop on timeouts"), human)
    assert not hits(comment("net/retry.py", 30), human)
    assert not hits(comment("net/retry.py", 22), human)
    assert hits(comment("net/retry.py", 30), human, within=4)
    assert not hits(comment("net/retry.py", 27), human, within=0)


def test_different_files_or_sides_never_match() -> None:
    human = finding("a.py", 10)
    assert not hits(comment("b.py", 10), human)
    assert not hits(comment("a/a.py", 10), human)
    assert not hits(comment("a.py", 10, Side.LEFT), human)


def test_a_multi_line_comment_matches_when_its_range_comes_near() -> None:
    human = finding("a.py", 20)
    assert hits(comment("a.py", 30, start_line=18), human)  # the range covers the line
    assert hits(comment("a.py", 17, start_line=12), human)  # ends 3 lines before it
    assert not hits(comment("a.py", 16, start_line=12), human)  # ends 4 lines before it


def test_a_hunk_finding_is_hit_anywhere_near_its_changed_lines_on_either_side() -> None:
    hunk = Expected("h.py", (Span(Side.RIGHT, 12, 15), Span(Side.LEFT, 12, 12)))
    assert hits(comment("h.py", 14), hunk)
    assert hits(comment("h.py", 18), hunk)
    assert not hits(comment("h.py", 19), hunk)
    assert hits(comment("h.py", 12, Side.LEFT), hunk)


def test_match_counts_each_comment_once_and_each_finding_once() -> None:
    expected = [finding("a.py", 10), finding("a.py", 40)]
    comments = [comment("a.py", 11), comment("a.py", 9), comment("a.py", 25), comment("b.py", 10)]
    matched = match(comments, expected)
    assert matched.comment_hits == (True, True, False, False)
    assert matched.found == (True, False)
    assert (matched.comments, matched.true_positives, matched.false_positives) == (4, 2, 2)
    clean = match(comments[:2], [])
    assert clean.false_positives == 2
    assert clean.found == ()


def _attempt(tier: Tier, tokens_in: int) -> Attempt:
    return Attempt(tier, f"{tier}-model", 1, Usage(tokens_in, 10), 1.0, 2.0)


def test_totals_add_up_quality_per_tier_and_the_cost_of_failed_reviews() -> None:
    bug = finding("a.py", 10)
    spend = Spend(Decimal("0.01"), Decimal("0.01"), False, Decimal("0.01"), Decimal(0))
    local_spend = Spend(Decimal("0.001"), Decimal("0.02"), True, Decimal(0), Decimal("0.001"))
    scored = [
        Scored(
            "hit",
            1,
            Status.REVIEWED,
            (bug,),
            tier=Tier.FRONTIER,
            comments=(comment("a.py", 10),),
            matched=match([comment("a.py", 10)], [bug]),
            attempts=(_attempt(Tier.FRONTIER, 100),),
            spend=spend,
        ),
        Scored(
            "noisy-clean",
            2,
            Status.REVIEWED,
            (),
            tier=Tier.LOCAL,
            comments=(comment("a.py", 3), comment("a.py", 30)),
            matched=match([comment("a.py", 3), comment("a.py", 30)], []),
            attempts=(_attempt(Tier.LOCAL, 50),),
            spend=local_spend,
        ),
        Scored(
            "failed",
            3,
            Status.NOT_REVIEWED,
            (bug,),
            why="the model failed",
            tier=Tier.FRONTIER,
            attempts=(_attempt(Tier.FRONTIER, 0),),
            spend=Spend(Decimal(0), Decimal(0), False, Decimal(0), Decimal(0)),
        ),
        Scored("skipped", 4, Status.SKIPPED, (), why="nothing to review"),
    ]
    figures = totals(scored)
    assert (figures.reviewed, figures.not_reviewed, figures.skipped) == (2, 1, 1)
    overall = figures.overall
    assert (overall.expected, overall.found, overall.comments, overall.true_positives) == (
        1,
        1,
        3,
        1,
    )
    assert overall.hit_rate == 1.0
    assert overall.precision == 0.3333
    assert overall.comments_per_change == 1.5
    assert (overall.clean_changes, overall.clean_with_comments, overall.clean_comments) == (1, 1, 2)
    assert figures.by_tier[Tier.LOCAL].precision == 0.0
    assert figures.by_tier[Tier.FRONTIER].precision == 1.0
    assert figures.use[Tier.FRONTIER].attempts == 2  # the failed review's request counts
    assert figures.use[Tier.FRONTIER].input_tokens == 100
    assert figures.use[Tier.LOCAL].gpu_seconds == 2.0
    assert figures.use[Tier.LOCAL].usd == Decimal("0.001")
    assert figures.spent_usd == Decimal("0.011")
    assert figures.baseline_usd == Decimal("0.03")
    assert figures.by_severity == {"major": (1, 1)}
