"""Labelled changes for offline evaluation, and the matching of a review's comments to the
findings a person expected on them.

Pure. A labelled change is a diff and the findings a human reviewer made on it; none makes it a
clean change, where any comment the bot posts is a false positive. A finding sits on a span of
lines of one side of one file: one line where the reviewer's line is known, the changed lines
of a hunk where only the hunk is (CodeReviewer's data). A posted comment hits a finding when it
is on the same file and side and within `within` lines of the span; a finding is found when at
least one comment hits it, and a comment is a true positive when it hits at least one finding.
How the comment is worded does not matter: the line says what it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.anchor import Comment
from bot.core.diff import Side

DEFAULT_WITHIN = 3  # lines either side of a finding that still count as commenting on it


@dataclass(frozen=True, slots=True)
class Span:
    """Lines `first` to `last` (inclusive) on one side of a file."""

    side: Side
    first: int
    last: int

    def gap(self, first: int, last: int) -> int:
        """How many lines lie between this span and lines `first`..`last` (0 when they meet)."""
        if last < self.first:
            return self.first - last
        if first > self.last:
            return first - self.last
        return 0


@dataclass(frozen=True, slots=True)
class Expected:
    """A finding a person made: the file, the spans it may sit on (one per side at most), and
    what they said, with a severity where the dataset gives one."""

    path: str
    spans: tuple[Span, ...]
    severity: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Labelled:
    """One change of a dataset: its id, a unified diff, the findings expected on it (none: a
    clean change), the dataset's format and the line of the dataset file it came from."""

    id: str
    diff: str
    expected: tuple[Expected, ...]
    source: str
    line: int

    @property
    def clean(self) -> bool:
        """No finding is expected: every comment on it is a false positive."""
        return not self.expected


@dataclass(frozen=True, slots=True)
class Matched:
    """How one review's comments met the expected findings: for each comment posted (in
    order) whether it hit a finding, and for each expected finding whether a comment hit it."""

    comment_hits: tuple[bool, ...]
    found: tuple[bool, ...]

    @property
    def comments(self) -> int:
        return len(self.comment_hits)

    @property
    def true_positives(self) -> int:
        """Comments that hit an expected finding."""
        return sum(self.comment_hits)

    @property
    def false_positives(self) -> int:
        """Comments that hit no expected finding."""
        return self.comments - self.true_positives


def hits(comment: Comment, expected: Expected, within: int = DEFAULT_WITHIN) -> bool:
    """Whether `comment` is on `expected`'s file and side, within `within` lines of it."""
    if comment.path != expected.path:
        return False
    first = comment.start_line if comment.start_line is not None else comment.line
    first, last = min(first, comment.line), max(first, comment.line)
    return any(
        span.side == comment.side and span.gap(first, last) <= within for span in expected.spans
    )


def match(
    comments: Sequence[Comment], expected: Sequence[Expected], within: int = DEFAULT_WITHIN
) -> Matched:
    """Match every comment posted on a change against the findings expected on it."""
    found = [False] * len(expected)
    comment_hits = []
    for comment in comments:
        hit = False
        for index, finding in enumerate(expected):
            if hits(comment, finding, within):
                found[index] = True
                hit = True
        comment_hits.append(hit)
    return Matched(tuple(comment_hits), tuple(found))
