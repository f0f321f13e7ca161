"""The confidence check: each escalation signal on its own, and a confident review that stands."""

from __future__ import annotations

import math

import pytest

from bot.core.anchor import Anchored
from bot.core.answer_schema import ModelReview, RawComment, Severity
from bot.core.confidence import Thresholds, judge, unsure
from bot.core.types import Completion, TokenStats, Usage


def completion(entropies: list[float] | None = None) -> Completion:
    return Completion(
        text="{}",
        parsed={},
        model="local-14b",
        backend="local",
        usage=Usage(100, 20),
        wall_seconds=1.0,
        token_stats=TokenStats(tuple(entropies)) if entropies is not None else None,
    )


def raw(body: str = "This dereferences None when the cache is empty.") -> RawComment:
    return RawComment("a.py", 3, "RIGHT", "x = y.z", Severity.MAJOR, "bug", body)


def review(
    *comments: RawComment, summary: str = "Adds a cache.", problems: tuple[str, ...] = ()
) -> ModelReview:
    return ModelReview(summary, comments, problems, valid=True)


CLEAN = Anchored(comments=())


def test_a_confident_valid_anchored_review_stands() -> None:
    verdict = judge(completion([0.05] * 200), review(raw()), CLEAN)
    assert not verdict.escalate
    assert verdict.reasons == ()
    assert verdict.mean_entropy == pytest.approx(0.05)


def test_output_that_is_not_json_escalates() -> None:
    bad = ModelReview("", (), ("the answer is not JSON",), valid=False)
    verdict = judge(completion([0.1] * 10), bad, CLEAN)
    assert verdict.escalate
    assert "not usable: the answer is not JSON" in verdict.reasons[0]


def test_output_that_breaks_the_schema_escalates() -> None:
    verdict = judge(completion([0.1]), review(raw(), problems=("comment 2: no body",)), CLEAN)
    assert verdict.escalate
    assert "did not follow the schema (comment 2: no body)" in verdict.reasons[0]


def test_comments_citing_lines_not_in_the_diff_escalate() -> None:
    anchored = Anchored(comments=(), dropped={"cites a line the diff does not show": 2})
    verdict = judge(completion([0.1]), review(raw(), raw(), raw()), anchored)
    assert verdict.escalate
    assert verdict.reasons == ("2 of 3 comments cited files or lines the diff does not show",)


def test_one_stray_comment_in_many_does_not_escalate() -> None:
    anchored = Anchored(comments=(), dropped={"cites a file not in the diff": 1})
    verdict = judge(completion([0.1]), review(*[raw(f"point {i}") for i in range(5)]), anchored)
    assert not verdict.escalate


def test_high_mean_entropy_escalates() -> None:
    verdict = judge(completion([1.5] * 50), review(), CLEAN)
    assert verdict.escalate
    assert "mean token entropy 1.50 nats (limit 1.00)" in verdict.reasons[0]


def test_a_few_very_unsure_tokens_escalate_through_the_quantile() -> None:
    entropies = [0.05] * 90 + [math.log(200)] * 10
    verdict = judge(completion(entropies), review(), CLEAN)
    assert verdict.escalate
    assert "95th percentile token entropy" in verdict.reasons[0]
    assert verdict.mean_entropy is not None
    assert verdict.mean_entropy < 1.0


def test_thresholds_are_settings() -> None:
    """A repo that raises the mean-entropy limit keeps a review the default limit would escalate."""
    verdict = judge(completion([1.5] * 50), review(), CLEAN, Thresholds(mean_entropy=2.0))
    assert not verdict.escalate


def test_hedging_language_escalates() -> None:
    hedgy = review(
        raw("I'm not sure, but this might be wrong."),
        raw("Perhaps this is fine; hard to say without more context."),
        summary="It seems to add a cache.",
    )
    verdict = judge(completion([0.1] * 10), hedgy, CLEAN)
    assert verdict.escalate
    assert verdict.hedges >= 3
    assert "hedges" in verdict.reasons[0]


def test_no_token_statistics_is_not_a_reason_by_itself() -> None:
    verdict = judge(completion(None), review(raw()), CLEAN)
    assert not verdict.escalate
    assert verdict.mean_entropy is None


def test_token_stats_quantile_interpolates() -> None:
    """Quantiles interpolate linearly between sorted entropies; no tokens give 0."""
    stats = TokenStats((0.0, 1.0, 2.0, 3.0, 4.0))
    assert stats.quantile(0.5) == 2.0
    assert stats.quantile(0.95) == pytest.approx(3.8)
    assert stats.mean == 2.0
    assert TokenStats(()).quantile(0.9) == 0.0


def test_a_review_and_an_answer_are_held_to_the_same_entropy_limits() -> None:
    """`unsure` is the check `judge` makes and `/ask` uses: one policy, same reason text."""
    for entropies in ([1.1] * 50, [0.05] * 90 + [math.log(200)] * 10, [0.2] * 50):
        stats = TokenStats(tuple(entropies))
        verdict = judge(completion(entropies), review(), CLEAN)
        assert unsure(stats) == (verdict.reasons[0] if verdict.reasons else None)
    assert unsure(TokenStats(tuple([1.1] * 50)), Thresholds(mean_entropy=1.2)) is None
    assert unsure(None) is None
    assert unsure(TokenStats(())) is None
