"""Comments against real diffs: kept on shown lines, moved by quoted code or dropped, ranges
inside one hunk, suggestions only where GitHub can apply them, model text made safe Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.anchor import anchor, fingerprint
from bot.core.answer_schema import RawComment, Severity, read_answer
from bot.core.diff import ChangeSet, Side, parse
from bot.core.markdown.rendered import problems

# requests c2aeaa39: connect timeouts (6 files, several hunks each).
TIMEOUTS = "psf__requests__c2aeaa3959b5754f5b39a45bceff91b196b6c986.diff"


@pytest.fixture
def changes(CORPUS: Path) -> ChangeSet:
    return parse((CORPUS / "diffs" / TIMEOUTS).read_bytes())


def comment(**fields: object) -> RawComment:
    base: dict[str, object] = {
        "path": "requests/adapters.py",
        "line": 18,
        "side": "RIGHT",
        "code": "from .compat import urlparse, basestring, urldefrag",
        "severity": Severity.MINOR,
        "category": "bug",
        "body": "Removing `unquote` breaks callers.",
    }
    base.update(fields)
    return RawComment(**base)  # type: ignore[arg-type]


def test_a_comment_on_a_shown_line_is_kept_as_is(changes: ChangeSet) -> None:
    result = anchor([comment()], changes, max_comments=15)
    assert len(result.comments) == 1
    kept = result.comments[0]
    assert (kept.path, kept.line, kept.side) == ("requests/adapters.py", 18, Side.RIGHT)
    assert result.dropped_total == 0
    assert result.moved == 0


def test_a_removed_line_is_commented_on_the_left(changes: ChangeSet) -> None:
    result = anchor(
        [
            comment(
                line=22, side="LEFT", code="from .packages.urllib3.exceptions import MaxRetryError"
            )
        ],
        changes,
        max_comments=15,
    )
    assert [(c.line, c.side) for c in result.comments] == [(22, Side.LEFT)]


def test_a_wrong_line_is_moved_to_the_line_whose_code_it_quotes(changes: ChangeSet) -> None:
    result = anchor(
        [comment(line=500, code="from .packages.urllib3.exceptions import ReadTimeoutError")],
        changes,
        max_comments=15,
    )
    assert result.moved == 1
    assert [(c.line, c.side) for c in result.comments] == [(26, Side.RIGHT)]


def test_a_line_outside_the_diff_without_matching_code_is_dropped_and_counted(
    changes: ChangeSet,
) -> None:
    result = anchor(
        [comment(line=500, code="nothing like this"), comment(path="requests/nowhere.py")],
        changes,
        max_comments=15,
    )
    assert result.comments == ()
    assert result.dropped == {
        "cites a line the diff does not show": 1,
        "cites a file not in the diff": 1,
    }


def test_quoted_code_that_matches_several_lines_is_not_guessed(changes: ChangeSet) -> None:
    text = "from .packages.urllib3.exceptions import MaxRetryError"
    result = anchor([comment(line=9999, code=text, side="RIGHT")], changes, max_comments=15)
    # The line is removed at (22) and added at 24: two matches, so no move.
    assert result.comments == ()
    assert result.dropped_total == 1


def test_a_range_inside_one_hunk_keeps_its_start(changes: ChangeSet) -> None:
    result = anchor([comment(start_line=15, line=18)], changes, max_comments=15)
    assert result.comments[0].start_line == 15


def test_a_range_that_crosses_hunks_loses_its_start_never_crosses(changes: ChangeSet) -> None:
    adapters = changes.file("requests/adapters.py")
    assert adapters is not None
    second = adapters.hunks[1]
    result = anchor(
        [comment(start_line=30, line=second.new_start + 1, code="")], changes, max_comments=15
    )
    kept = result.comments[0]
    assert kept.start_line is None
    hunk = adapters.hunk_at(kept.line, Side.RIGHT)
    assert hunk is second


def test_a_suggestion_on_new_lines_of_one_hunk_becomes_a_suggestion_block(
    changes: ChangeSet,
) -> None:
    result = anchor(
        [comment(suggestion="from .compat import urlparse, basestring, urldefrag, unquote")],
        changes,
        max_comments=15,
    )
    assert result.suggestions_kept == 1
    assert result.comments[0].body.endswith(
        "```suggestion\nfrom .compat import urlparse, basestring, urldefrag, unquote\n```"
    )


def test_a_suggestion_on_removed_lines_is_not_offered(changes: ChangeSet) -> None:
    result = anchor(
        [
            comment(
                line=22,
                side="LEFT",
                code="from .packages.urllib3.exceptions import MaxRetryError",
                suggestion="x",
            )
        ],
        changes,
        max_comments=15,
    )
    assert result.suggestions_refused == 1
    assert "```suggestion" not in result.comments[0].body


def test_mentions_and_html_from_the_model_are_made_text_but_code_is_not(
    changes: ChangeSet,
) -> None:
    body = (
        "Ping @octocat <img src=x onerror=alert(1)> <!-- tierbot:summary --> see `a<b` and\n"
        "```py\nif a<b: pass\n```"
    )
    result = anchor([comment(body=body)], changes, max_comments=15)
    text = result.comments[0].body
    assert problems(text) == []
    assert "@\u200doctocat" in text
    assert "\\<img src=x onerror=alert(1)\\>" in text
    assert "tierbot:" not in text
    assert "`a<b`" in text
    assert "```py\nif a<b: pass\n```" in text


@pytest.mark.parametrize(
    "body",
    [
        "\\`@octocat\\` please look",  # escaped backticks: no code span, a live mention
        "```\ncode\n\n\n```\n@octocat and <!-- tierbot:paused -->",  # a fence split by blanks
        "![pixel](https://evil.example/pixel.png) looks fine",
        "Fixed in #12, see other/repo#3 and https://github.com/other/repo/issues/4",
        "`<!-- tierbot:paused -->` in a code span",
    ],
)
def test_comments_render_without_mentions_images_html_references_or_markers(
    changes: ChangeSet, body: str
) -> None:
    result = anchor([comment(body=body)], changes, max_comments=15)
    text = result.comments[0].body
    assert problems(text) == []
    assert "tierbot:" not in text


def test_a_comment_with_no_text_once_made_safe_is_dropped(changes: ChangeSet) -> None:
    result = anchor([comment(body="[ref]: https://example.com")], changes, max_comments=15)
    assert result.comments == ()
    assert result.dropped == {"has no text once made safe to post": 1}


def test_a_suggestion_whose_code_holds_backticks_keeps_a_fence_it_cannot_close(
    changes: ChangeSet,
) -> None:
    code = 'doc = """```\nexample\n```"""'
    result = anchor([comment(suggestion=code)], changes, max_comments=15)
    assert result.suggestions_kept == 1
    assert result.comments[0].body.endswith(f"````suggestion\n{code}\n````")


def test_a_suggestion_holding_marker_text_is_refused(changes: ChangeSet) -> None:
    result = anchor([comment(suggestion="# <!-- tierbot:paused -->")], changes, max_comments=15)
    assert result.suggestions_refused == 1
    assert "suggestion" not in result.comments[0].body


def test_duplicates_are_merged_keeping_the_most_severe(changes: ChangeSet) -> None:
    result = anchor(
        [comment(severity=Severity.NIT), comment(severity=Severity.MAJOR)],
        changes,
        max_comments=15,
    )
    assert len(result.comments) == 1
    assert result.comments[0].severity is Severity.MAJOR
    assert result.merged == 1


def test_the_count_is_capped_most_severe_first(changes: ChangeSet) -> None:
    adapters = changes.file("requests/adapters.py")
    assert adapters is not None
    lines = sorted(adapters.commentable(Side.RIGHT))[:6]
    severities = [
        Severity.NIT,
        Severity.CRITICAL,
        Severity.MINOR,
        Severity.NIT,
        Severity.MAJOR,
        Severity.NIT,
    ]
    raws = [
        comment(line=n, code="", severity=s, body=f"Point number {i}")
        for i, (n, s) in enumerate(zip(lines, severities, strict=True))
    ]
    result = anchor(raws, changes, max_comments=3)
    assert result.capped == 3
    assert sorted(c.severity for c in result.comments) == sorted(
        [Severity.CRITICAL, Severity.MAJOR, Severity.MINOR]
    )
    assert [c.line for c in result.comments] == sorted(c.line for c in result.comments)


def test_every_corpus_diff_anchors_comments_only_to_commentable_lines(CORPUS: Path) -> None:
    """A comment per shown line and one past each hunk: exactly the shown ones survive."""
    for path in sorted((CORPUS / "diffs").glob("*.diff"))[:20]:
        changes = parse(path.read_bytes())
        raws = []
        expected = 0
        for f in changes.files[:5]:
            for hunk in f.hunks[:3]:
                raws.append(comment(path=f.path, line=hunk.new_start, code="", body=f"a {f.path}"))
                expected += 1 if hunk.new_count else 0
                past = hunk.new_start + hunk.new_count + 10_000
                raws.append(comment(path=f.path, line=past, code="", body=f"b {f.path}"))
        result = anchor(raws, changes, max_comments=1000)
        for kept in result.comments:
            change = changes.file(kept.path)
            assert change is not None
            assert kept.line in change.commentable(kept.side)
        assert len(result.comments) + result.merged == expected


def test_fingerprints_ignore_line_numbers_and_whitespace() -> None:
    assert fingerprint("a.py", "x  =  1", "Off by one here.") == fingerprint(
        "a.py", "x = 1", "off by one here"
    )
    assert fingerprint("a.py", "x = 1", "Off by one") != fingerprint("b.py", "x = 1", "Off by one")


# --- reading the answer --------------------------------------------------------------------


def test_a_well_formed_answer_is_read() -> None:
    review = read_answer(
        {
            "summary": "Adds timeouts.",
            "comments": [
                {
                    "path": "a.py",
                    "line": 3,
                    "side": "RIGHT",
                    "code": "x = 1",
                    "severity": "major",
                    "category": "bug",
                    "body": "Wrong.",
                    "start_line": 2,
                    "suggestion": "x = 2",
                }
            ],
        }
    )
    assert review.valid
    assert review.problems == ()
    assert review.comments[0].severity is Severity.MAJOR
    assert review.comments[0].start_line == 2
    assert review.comments[0].suggestion == "x = 2"


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (None, "not JSON"),
        ([], "not a JSON object"),
        ({"summary": "s"}, "no comment list"),
    ],
)
def test_an_unusable_answer_is_invalid_with_a_reason(answer: object, problem: str) -> None:
    review = read_answer(answer)
    assert not review.valid
    assert any(problem in p for p in review.problems)


def test_bad_comments_are_dropped_one_by_one_and_counted() -> None:
    good = {
        "path": "a.py",
        "line": 1,
        "side": "RIGHT",
        "code": "",
        "severity": "nit",
        "category": "style?",
        "body": "ok",
    }
    review = read_answer(
        {
            "summary": "s",
            "comments": [
                good,
                {**good, "line": 0},
                {**good, "side": "MIDDLE"},
                {**good, "severity": "apocalyptic"},
                {**good, "body": " "},
                "text",
            ],
        }
    )
    assert review.valid
    assert len(review.comments) == 1
    assert review.comments[0].category == "other"
    assert len(review.problems) == 5
