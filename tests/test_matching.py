"""Matching the comments of a local and a frontier review of one change (bot.core.matching), on
hand-made review pairs: the same finding worded differently on nearby lines is one finding;
different files, far lines, other concerns and distant severities are not."""

from __future__ import annotations

import pytest

from bot.core.anchor import Comment
from bot.core.answer_schema import Severity
from bot.core.diff import Side
from bot.core.matching import FoundBy, Matched, match_comments

MAJOR, MINOR, CRITICAL, NIT = Severity.MAJOR, Severity.MINOR, Severity.CRITICAL, Severity.NIT


def said(
    path: str,
    line: int,
    body: str,
    severity: Severity = MAJOR,
    category: str = "bug",
    *,
    side: Side = Side.RIGHT,
    start: int | None = None,
) -> Comment:
    return Comment(path, line, side, severity, category, body, start, fingerprint=f"{path}:{line}")


def pairs(matched: Matched) -> list[tuple[FoundBy, int | None, int | None]]:
    """Each finding as (who found it, the local comment's line, the frontier comment's line)."""
    return [
        (f.found_by, f.local.line if f.local else None, f.frontier.line if f.frontier else None)
        for f in matched.findings
    ]


def test_the_same_finding_worded_differently_on_nearby_lines_is_one_finding() -> None:
    local = [said("app/stats.py", 12, "This divides by zero when the list is empty.")]
    frontier = [
        said(
            "app/stats.py",
            10,
            "`len(values)` can be 0: guard the empty case before computing the mean, or raise "
            "a clear ValueError.",
            CRITICAL,
        )
    ]
    matched = match_comments(local, frontier)
    assert pairs(matched) == [(FoundBy.BOTH, 12, 10)]
    # Counted under the frontier model's severity, the reference.
    assert matched.counts() == {"both": {"critical": 1}, "frontier": {}, "local": {}}


def test_comments_on_different_files_never_match_even_on_the_same_line_and_words() -> None:
    local = [said("app/a.py", 5, "A missing key raises KeyError.")]
    frontier = [said("app/b.py", 5, "A missing key raises KeyError.")]
    matched = match_comments(local, frontier)
    assert sorted(pairs(matched), key=str) == sorted(
        [(FoundBy.LOCAL, 5, None), (FoundBy.FRONTIER, None, 5)], key=str
    )
    assert matched.count(FoundBy.BOTH) == 0


def test_lines_further_apart_than_the_window_are_two_findings() -> None:
    local = [said("app/x.py", 10, "Unchecked None.")]
    frontier = [said("app/x.py", 16, "Unchecked None.")]
    assert match_comments(local, frontier).count(FoundBy.BOTH) == 0
    assert match_comments(local, frontier, window=6).count(FoundBy.BOTH) == 1


def test_a_range_that_covers_the_other_comments_line_is_at_distance_zero() -> None:
    local = [said("app/x.py", 40, "The loop never ends.", start=20)]
    frontier = [said("app/x.py", 22, "Infinite loop: `i` is never incremented.")]
    assert pairs(match_comments(local, frontier)) == [(FoundBy.BOTH, 40, 22)]


def test_other_sides_of_the_diff_never_match() -> None:
    local = [said("app/x.py", 8, "Removing this check lets None through.", side=Side.LEFT)]
    frontier = [said("app/x.py", 8, "None is no longer checked.")]
    assert match_comments(local, frontier).count(FoundBy.BOTH) == 0


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        (("bug", MAJOR), ("error-handling", MAJOR), True),  # one family: correctness
        (("concurrency", CRITICAL), ("bug", MAJOR), True),
        (("readability", NIT), ("maintainability", MINOR), True),
        (("other", MAJOR), ("security", MAJOR), True),  # `other` goes with any concern
        (("security", MAJOR), ("performance", MAJOR), False),
        (("bug", CRITICAL), ("bug", MINOR), False),  # two severity steps apart
        (("tests", MINOR), ("docs", MINOR), False),
    ],
)
def test_the_same_concern_is_one_family_of_categories_and_severities_a_step_apart(
    one: tuple[str, Severity], other: tuple[str, Severity], same: bool
) -> None:
    local = [said("app/x.py", 3, "Remark.", one[1], one[0])]
    frontier = [said("app/x.py", 3, "Remark.", other[1], other[0])]
    assert (match_comments(local, frontier).count(FoundBy.BOTH) == 1) is same


def test_each_comment_matches_one_other_closest_first() -> None:
    # Two frontier findings near one local one: the nearer pairs, the other is frontier-only.
    local = [said("app/x.py", 10, "Off by one in the loop bound.")]
    frontier = [
        said("app/x.py", 13, "The slice drops the last element."),
        said("app/x.py", 11, "`range(n - 1)` skips the last index."),
    ]
    assert pairs(match_comments(local, frontier)) == [
        (FoundBy.BOTH, 10, 11),
        (FoundBy.FRONTIER, None, 13),
    ]


def test_between_equally_near_candidates_the_wording_decides() -> None:
    local = [said("app/x.py", 10, "The file handle is never closed.")]
    frontier = [
        said("app/x.py", 8, "Quadratic loop over the rows.", category="performance"),
        said("app/x.py", 12, "The handle leaks: it is never closed on error.", category="bug"),
        said("app/x.py", 8, "Retries forever without a delay.", category="bug"),
    ]
    assert (FoundBy.BOTH, 10, 12) in pairs(match_comments(local, frontier))


def test_a_review_pair_counts_what_both_and_each_alone_found_by_severity() -> None:
    local = [
        said("app/db.py", 20, "SQL built by string formatting: injection.", CRITICAL, "security"),
        said("app/db.py", 44, "Connection not returned to the pool.", MAJOR, "bug"),
        said("app/util.py", 3, "Name `x` says nothing.", NIT, "readability"),
    ]
    frontier = [
        said("app/db.py", 21, "User input reaches the query unescaped.", CRITICAL, "security"),
        said("app/db.py", 70, "N+1 queries in the listing.", MAJOR, "performance"),
        said("app/api.py", 9, "The new field breaks existing clients.", MAJOR, "api"),
    ]
    matched = match_comments(local, frontier)
    assert matched.counts() == {
        "both": {"critical": 1},
        "frontier": {"major": 2},
        "local": {"major": 1, "nit": 1},
    }
    assert [f.comment.path for f in matched.findings] == [
        "app/api.py",
        "app/db.py",
        "app/db.py",
        "app/db.py",
        "app/util.py",
    ]


def test_no_comments_on_either_side_is_no_finding() -> None:
    assert match_comments([], []).findings == ()
    only = match_comments([], [said("app/x.py", 1, "Bug.")])
    assert pairs(only) == [(FoundBy.FRONTIER, None, 1)]
