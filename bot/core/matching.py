"""Which comments of two reviews of the same change are the same finding.

Pure. A shadow review (bot.pipeline.shadow) has the frontier model review a change the local
model reviewed; matching their comments says what both found, what only the frontier model
found and what only the local model found. Two comments are the same finding when they are on
the same file and the same side of the diff, their lines (or line ranges) are at most
`LINE_WINDOW` lines apart, and they are about the same concern: categories of one family
(`CONCERNS`; `other` goes with any) and severities at most one step apart. Wording is not
compared, as two models put the same finding in different words, except to choose between
candidates that are otherwise as close. Comments on different files never match. Each comment
matches at most one of the other review's, closest pairs first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.core.anchor import Comment
from bot.core.answer_schema import Severity

LINE_WINDOW = 5
"""How many lines apart two comments on the same concern may be and still be one finding: a
model cites the line of a call, another the line of the condition above it."""

CONCERNS: Mapping[str, str] = {
    "bug": "correctness",
    "error-handling": "correctness",
    "concurrency": "correctness",
    "security": "security",
    "performance": "performance",
    "api": "api",
    "tests": "tests",
    "maintainability": "clarity",
    "readability": "clarity",
    "docs": "clarity",
}
"""The family of concern of each category; a category not listed is its own family, and
`other` belongs to every family."""

_WORDS = re.compile(r"[a-z0-9]+")


class FoundBy(StrEnum):
    """Which review found a finding."""

    BOTH = "both"
    FRONTIER = "frontier"
    LOCAL = "local"


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding of the two reviews: the comment each review made on it (None: it made
    none). `severity` is the frontier model's where it found it, else the local model's: the
    frontier review is the reference the local one is measured against."""

    local: Comment | None
    frontier: Comment | None

    @property
    def found_by(self) -> FoundBy:
        if self.local is not None and self.frontier is not None:
            return FoundBy.BOTH
        return FoundBy.FRONTIER if self.frontier is not None else FoundBy.LOCAL

    @property
    def comment(self) -> Comment:
        """The comment that speaks for the finding: the frontier model's, else the local's."""
        found = self.frontier or self.local
        assert found is not None  # a Finding always has at least one comment
        return found

    @property
    def severity(self) -> Severity:
        return self.comment.severity


@dataclass(frozen=True, slots=True)
class Matched:
    """The findings of two reviews, in the order of the files and lines they are on."""

    findings: tuple[Finding, ...]

    def counts(self) -> dict[str, dict[str, int]]:
        """How many findings each review alone or both found, by severity: {"both": {"major":
        1}, "frontier": {}, "local": {...}}; every key is there, severities with none are not."""
        counts: dict[str, dict[str, int]] = {found.value: {} for found in FoundBy}
        for finding in self.findings:
            bucket = counts[finding.found_by.value]
            bucket[finding.severity.value] = bucket.get(finding.severity.value, 0) + 1
        return counts

    def count(self, found_by: FoundBy) -> int:
        """How many findings `found_by` stands for."""
        return sum(1 for f in self.findings if f.found_by is found_by)


def same_concern(one: Comment, other: Comment) -> bool:
    """Whether two comments are about the same kind of problem: their categories are of one
    family (or either is `other`) and their severities at most one step apart."""
    if abs(one.severity.rank - other.severity.rank) > 1:
        return False
    if "other" in (one.category, other.category):
        return True
    return CONCERNS.get(one.category, one.category) == CONCERNS.get(other.category, other.category)


def distance(one: Comment, other: Comment) -> int | None:
    """How many lines apart two comments are (0 when their ranges overlap); None when they are
    on different files or sides of the diff, which are never near."""
    if one.path != other.path or one.side != other.side:
        return None
    low_one, high_one = _span(one)
    low_other, high_other = _span(other)
    return max(low_one - high_other, low_other - high_one, 0)


def match_comments(
    local: Sequence[Comment], frontier: Sequence[Comment], window: int = LINE_WINDOW
) -> Matched:
    """The findings of a local and a frontier review of the same change (module docstring)."""
    candidates: list[tuple[int, int, float, int, int]] = []
    for i, mine in enumerate(local):
        for j, theirs in enumerate(frontier):
            apart = distance(mine, theirs)
            if apart is None or apart > window or not same_concern(mine, theirs):
                continue
            steps = abs(mine.severity.rank - theirs.severity.rank)
            candidates.append((apart, steps, -_overlap(mine.body, theirs.body), i, j))
    paired: dict[int, int] = {}
    taken: set[int] = set()
    for *_, i, j in sorted(candidates):
        if i in paired or j in taken:
            continue
        paired[i] = j
        taken.add(j)
    findings = [
        Finding(mine, frontier[paired[i]] if i in paired else None) for i, mine in enumerate(local)
    ]
    findings += [Finding(None, theirs) for j, theirs in enumerate(frontier) if j not in taken]
    findings.sort(key=lambda f: (f.comment.path, _span(f.comment), f.found_by.value))
    return Matched(tuple(findings))


def _span(comment: Comment) -> tuple[int, int]:
    start = comment.start_line if comment.start_line is not None else comment.line
    return min(start, comment.line), comment.line


def _overlap(one: str, other: str) -> float:
    """The share of words two comments have in common (Jaccard), to choose between candidates
    that are equally near."""
    mine, theirs = set(_WORDS.findall(one.lower())), set(_WORDS.findall(other.lower()))
    return len(mine & theirs) / len(mine | theirs) if mine | theirs else 0.0
