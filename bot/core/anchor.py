"""From a model's comments to comments GitHub will accept, each on a line the diff shows.

Pure. Each comment is checked against the ChangeSet: a comment on a line the diff does not show
is moved to the line whose code it quotes (when exactly one shown line matches) or dropped; a
multi-line range must stay inside one hunk; a suggestion becomes a ```suggestion block only when
it replaces added or context lines of one hunk on the new side, and holds no marker text. Model
text is untrusted: each body is rewritten as safe Markdown (bot.core.markdown.safe: no images, raw
HTML, live mentions, issue references or marker text), and a comment left with no text is
dropped. Duplicates are merged, and the count is capped, most severe first. Everything dropped
is counted by reason.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field

from bot.core.answer_schema import RawComment, Severity
from bot.core.diff import ChangeSet, FileChange, Side
from bot.core.markdown.safe import code_block, has_marker_text, safe_markdown


@dataclass(frozen=True, slots=True)
class Comment:
    """An inline comment ready to post: GitHub's fields plus what the summary reports."""

    path: str
    line: int
    side: Side
    severity: Severity
    category: str
    body: str
    start_line: int | None = None
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class Anchored:
    """The comments kept, and an account of every one that was not kept as given."""

    comments: tuple[Comment, ...]
    moved: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    merged: int = 0
    capped: int = 0
    suggestions_kept: int = 0
    suggestions_refused: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


def anchor(comments: list[RawComment], changes: ChangeSet, max_comments: int) -> Anchored:
    """Check each comment against the diff; see the module docstring for the rules."""
    dropped: Counter[str] = Counter()
    kept: list[Comment] = []
    moved = suggestions_kept = suggestions_refused = 0
    for raw in comments:
        change = changes.file(raw.path)
        if change is None:
            dropped["cites a file not in the diff"] += 1
            continue
        side = Side(raw.side)
        line = raw.line
        if line not in change.commentable(side):
            found = _find_quoted(change, raw.code)
            if found is None:
                dropped["cites a line the diff does not show"] += 1
                continue
            line, side = found
            moved += 1
        start = _valid_start(change, raw.start_line, line, side) if line == raw.line else None
        body = safe_markdown(raw.body)
        if not body.strip():
            dropped["has no text once made safe to post"] += 1
            continue
        if raw.suggestion is not None:
            if (
                side is Side.RIGHT
                and _replaceable(change, start or line, line)
                and not has_marker_text(raw.suggestion)
            ):
                lines = raw.suggestion.rstrip("\n")
                body += "\n\n" + code_block(lines + "\n" if lines else "", "suggestion")
                suggestions_kept += 1
            else:
                suggestions_refused += 1
        kept.append(
            Comment(
                path=change.path,
                line=line,
                side=side,
                severity=raw.severity,
                category=raw.category,
                body=body,
                start_line=start,
                fingerprint=fingerprint(change.path, raw.code or str(line), raw.body),
            )
        )
    unique, merged = _merge_duplicates(kept)
    unique.sort(key=lambda c: (c.severity.rank, position(changes, c)))
    capped = max(len(unique) - max_comments, 0)
    final = sorted(unique[:max_comments], key=lambda c: position(changes, c))
    return Anchored(
        comments=tuple(final),
        moved=moved,
        dropped=dict(dropped),
        merged=merged,
        capped=capped,
        suggestions_kept=suggestions_kept,
        suggestions_refused=suggestions_refused,
    )


def fingerprint(path: str, code: str, body: str) -> str:
    """A stable id for a comment: the file, the code it is about and its first words.

    Line numbers are left out on purpose, so the same remark on code that moved is recognised.
    """
    words = " ".join(re.findall(r"[a-z0-9]+", body.lower())[:12])
    code_key = " ".join(code.split())
    return hashlib.sha256(f"{path}\0{code_key}\0{words}".encode()).hexdigest()[:16]


def _find_quoted(change: FileChange, code: str) -> tuple[int, Side] | None:
    """The one shown line whose code equals `code` (trimmed), on either side."""
    wanted = code.strip().split("\n", 1)[0].strip() if code else ""
    if len(wanted) < 4:
        return None
    matches: list[tuple[int, Side]] = []
    for hunk in change.hunks:
        for kind, old, new, text in hunk.numbered():
            if text.strip() != wanted:
                continue
            if kind == "-" and old is not None:
                matches.append((old, Side.LEFT))
            elif kind in ("+", " ") and new is not None:
                matches.append((new, Side.RIGHT))
    return matches[0] if len(matches) == 1 else None


def _valid_start(change: FileChange, start: int | None, line: int, side: Side) -> int | None:
    """`start` when it and `line` sit in the same hunk on the same side, else None."""
    if start is None or start >= line:
        return None
    hunk = change.hunk_at(line, side)
    if hunk is None or change.hunk_at(start, side) is not hunk:
        return None
    if side is Side.LEFT:
        removed = set(hunk.removed_lines())
        if not all(n in removed for n in range(start, line + 1)):
            return None
    return start


def _replaceable(change: FileChange, start: int, end: int) -> bool:
    """Whether new-side lines start..end are all shown in one hunk (so GitHub can apply it)."""
    hunk = change.hunk_at(end, Side.RIGHT)
    return hunk is not None and all(n in hunk.new_range for n in range(start, end + 1))


def _merge_duplicates(comments: list[Comment]) -> tuple[list[Comment], int]:
    """One comment per (file, line, side, point): the most severe wins, others are merged."""
    best: dict[tuple[str, int, Side, str], Comment] = {}
    merged = 0
    for comment in comments:
        words = " ".join(re.findall(r"[a-z0-9]+", comment.body.lower())[:8])
        key = (comment.path, comment.line, comment.side, words)
        current = best.get(key)
        if current is None:
            best[key] = comment
            continue
        merged += 1
        if comment.severity.rank < current.severity.rank:
            best[key] = comment
    by_fingerprint: dict[str, Comment] = {}
    for comment in best.values():
        if comment.fingerprint in by_fingerprint:
            merged += 1
            continue
        by_fingerprint[comment.fingerprint] = comment
    return list(by_fingerprint.values()), merged


def position(changes: ChangeSet, comment: Comment) -> tuple[int, int, int]:
    """Where a comment sits in the diff: its file's place, its line, LEFT before RIGHT."""
    index = next((i for i, f in enumerate(changes.files) if f.path == comment.path), 0)
    return index, comment.line, 0 if comment.side is Side.LEFT else 1
