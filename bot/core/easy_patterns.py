"""The easy patterns a whole change may match (docs only, tests only, whitespace or typo only, a
one-line fix, a dependency bump, renames, generated files), each with the most such a change may
score.

Pure: the reviewable files and their stats in, the patterns out; every file must match (for a
one-line fix, every file but the one line's is a test or docs).
"""

from __future__ import annotations

import re

from bot.core.diff import FileChange, Status
from bot.core.file_stats import FileStats

# Caps for the easy patterns: the most such a change may score, however large.
CAPS: dict[str, int] = {
    "whitespace-only": 5,
    "generated-only": 5,
    "rename-only": 10,
    "typo-only": 10,
    "docs-only": 20,
    "one-line-fix": 25,
    "dependency-bump": 25,
    "tests-only": 40,
}

PATTERN_WORDS = {
    "whitespace-only": "whitespace-only change",
    "generated-only": "only generated or lock files",
    "rename-only": "only renames or mode changes",
    "typo-only": "typo-sized edits only",
    "one-line-fix": "a one-line fix (besides tests and docs)",
    "docs-only": "docs only",
    "dependency-bump": "dependency version bump only",
    "tests-only": "tests only",
}
_VERSION_LINE = re.compile(
    r"""^[-+]\s*["']?[\w.@/\-\[\]]+["']?\s*(?:[:=<>~^!]=?|@|\s)\s*["']?[v^~<>=!]*\d[\w.\-+*]*["']?,?\s*$"""
)


def easy_patterns(reviewable: list[FileChange], stats: list[FileStats]) -> tuple[str, ...]:
    """The easy patterns the whole change matches; each requires every file to match it."""
    if not reviewable:
        return ("generated-only",)
    found: list[str] = []
    content = [(f, s) for f, s in zip(reviewable, stats, strict=True) if f.added + f.removed]
    if all(f.status in _RENAME_STATUSES and not f.hunks for f in reviewable):
        found.append("rename-only")
    if content and all(s.code_lines == 0 and s.whitespace_pairs for _, s in content):
        found.append("whitespace-only")
    if all(f.kind.docs for f in reviewable):
        found.append("docs-only")
    if all(f.kind.test for f in reviewable):
        found.append("tests-only")
    if (
        content
        and all(f.kind.dependency_manifest for f in reviewable)
        and all(
            _VERSION_LINE.match(line) or not line[1:].strip()
            for f, _ in content
            for hunk in f.hunks
            for line in hunk.lines
            if line[:1] in ("+", "-")
        )
    ):
        found.append("dependency-bump")
    if content and _typo_only([f for f, _ in content]):
        found.append("typo-only")
    if content and _one_line_fix(content):
        found.append("one-line-fix")
    return tuple(found)


_RENAME_STATUSES = (Status.RENAMED, Status.COPIED, Status.MODE_ONLY)


def _one_line_fix(content: list[tuple[FileChange, FileStats]]) -> bool:
    """One line of code outside tests and docs added, removed or replaced, in a file that names no
    risky area; tests and docs may change too. At most one line each way, so a line split in two
    is not one."""
    source = [(f, s) for f, s in content if not (f.kind.test or f.kind.docs)]
    if len(source) != 1:
        return False
    f, stats = source[0]
    if not f.kind.is_code or f.kind.migration or stats.risk_hits or stats.code_lines > 2:
        return False
    if stats.code_lines == 0 or f.status is not Status.MODIFIED:
        return False
    signs = [line[:1] for hunk in f.hunks for line in hunk.lines if _substance(line)]
    return signs.count("+") <= 1 and signs.count("-") <= 1


def _substance(line: str) -> bool:
    """A changed line that is neither blank nor a comment."""
    if line[:1] not in ("+", "-"):
        return False
    body = line[1:].strip()
    return bool(body) and not body.startswith(_COMMENT_STARTS)


_COMMENT_STARTS = ("#", "//", "/*", "*", '"""', "'''")


def _typo_only(files: list[FileChange]) -> bool:
    """At most 6 lines, each replaced by one that differs in a few characters."""
    if sum(f.added + f.removed for f in files) > 12:
        return False
    for f in files:
        for hunk in f.hunks:
            minus = [line[1:] for line in hunk.lines if line[:1] == "-"]
            plus = [line[1:] for line in hunk.lines if line[:1] == "+"]
            if len(minus) != len(plus):
                return False
            if any(_char_distance(a, b) > 3 for a, b in zip(minus, plus, strict=True)):
                return False
    return True


def _char_distance(a: str, b: str) -> int:
    """Characters that differ once the common prefix and suffix are removed."""
    limit = min(len(a), len(b))
    start = 0
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return max(len(a), len(b)) - start - end
