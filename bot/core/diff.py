"""The ChangeSet: what a unified diff changes, file by file, and where a review may comment.

`parse` reads any diff text or bytes (git, hg, svn, bzr, plain `diff -u`, format-patch mail,
coloured `git diff --color` output) and either returns a ChangeSet with at least one file or
raises DiffError saying what is wrong and where. Nothing else escapes it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

from bot.core.diff_paths import (
    DEV_NULL,
    header_value,
    same_path_header,
    strip_prefixes,
)
from bot.core.filekind import FileKind, classify
from bot.core.secrets.redaction import redact_text
from bot.core.unified_diff import RawFile, RawHunk, read_files


class DiffError(ValueError):
    """A diff that cannot be read: says what is wrong and, where known, at which input line.
    A message that quotes the diff (unidiff's do) has any secret in it redacted, since it is
    shown in the summary, logs and the ledger."""

    def __init__(self, message: str, line: int | None = None) -> None:
        message = redact_text(message)
        self.message = message
        self.line = line
        super().__init__(f"{message} (diff line {line})" if line is not None else message)


class Status(StrEnum):
    """What happened to a file. One value per file; the most specific one wins."""

    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"
    COPIED = "copied"
    BINARY = "binary"
    MODE_ONLY = "mode-only"
    SYMLINK = "symlink"


class Side(StrEnum):
    """GitHub's names for the two sides of a diff a review comment can sit on."""

    LEFT = "LEFT"
    RIGHT = "RIGHT"


@dataclass(frozen=True, slots=True)
class Hunk:
    """One `@@` block. `lines` are the body as given: each starts with ' ', '+', '-' or '\\'
    (an empty line is an empty context line), and may end in '\r' in a CRLF diff."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str
    lines: tuple[str, ...]
    added: int
    removed: int

    @property
    def new_range(self) -> range:
        """The new-side line numbers this hunk shows (added and context lines)."""
        return range(self.new_start, self.new_start + self.new_count)

    def numbered(self) -> Iterator[tuple[str, int | None, int | None, str]]:
        """Each line as (prefix, old line number, new line number, text)."""
        old, new = self.old_start, self.new_start
        for raw in self.lines:
            kind, text = raw[:1], raw[1:]
            if kind == "+":
                yield kind, None, new, text
                new += 1
            elif kind == "-":
                yield kind, old, None, text
                old += 1
            elif kind == "\\":
                yield kind, None, None, text
            else:
                yield " ", old, new, text
                old += 1
                new += 1

    def removed_lines(self) -> Iterator[int]:
        """Old-side numbers of the lines this hunk removes."""
        old = self.old_start
        for raw in self.lines:
            kind = raw[:1]
            if kind == "-":
                yield old
                old += 1
            elif kind not in ("+", "\\"):
                old += 1


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file's change. `old_path` is set for renames and copies only."""

    path: str
    old_path: str | None
    status: Status
    kind: FileKind
    hunks: tuple[Hunk, ...]
    added: int
    removed: int
    binary: bool
    old_mode: str | None
    new_mode: str | None

    def commentable(self, side: Side) -> frozenset[int]:
        """Lines a review comment may be anchored to: new-side lines on RIGHT, removed on LEFT."""
        if side is Side.RIGHT:
            return frozenset(n for hunk in self.hunks for n in hunk.new_range)
        return frozenset(n for hunk in self.hunks for n in hunk.removed_lines())

    def hunk_at(self, line: int, side: Side) -> Hunk | None:
        """The hunk that shows `line` on `side`, or None when the diff does not show it."""
        for hunk in self.hunks:
            if side is Side.RIGHT and line in hunk.new_range:
                return hunk
            if side is Side.LEFT and line in hunk.removed_lines():
                return hunk
        return None


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Every file a diff changes, in diff order; never empty."""

    files: tuple[FileChange, ...]

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def removed(self) -> int:
        return sum(f.removed for f in self.files)

    @property
    def hunk_count(self) -> int:
        return sum(len(f.hunks) for f in self.files)

    def file(self, path: str) -> FileChange | None:
        """The change to `path` (its new path), or None if the diff does not touch it."""
        for change in self.files:
            if change.path == path:
                return change
        return None


def parse(data: bytes | str) -> ChangeSet:
    """Read a unified diff into a ChangeSet, or raise DiffError."""
    text = data.decode("utf-8", errors="surrogateescape") if isinstance(data, bytes) else data
    if not text.strip():
        raise DiffError("the diff is empty: there are no changes to read")
    # Substring tests first: a regex over megabytes of text costs more than the parse.
    if "\x1b[" in text and _ANSI_AT_LINE_START.search(text):
        text = _ANSI.sub("", text)
    combined = _has_combined(text)
    if combined:
        raise DiffError(
            "not readable: a combined (merge) diff; give the diff against one parent instead",
            text.count("\n", 0, combined.start()) + 1,
        )
    # unidiff's header patterns end at "\n": a CRLF header ("deleted file mode 100644\r") would
    # go unread; headers are read without their CRs, hunk bodies keep them.
    lines = text.split("\n")
    try:
        files = read_files(lines, "\r\n" in text)
    except UnidiffParseError as exc:
        raise DiffError(f"malformed diff: {exc}".strip(), _failing_line(_lf(text))) from None
    except (ValueError, IndexError, KeyError, TypeError, AttributeError, AssertionError) as exc:
        # unidiff's patterns trust their input in places; these are failures on text they did
        # not expect (a line number too long to be a number).
        message = f"malformed diff: {type(exc).__name__}: {exc}"
        raise DiffError(message, _failing_line(_lf(text))) from None
    if not files:
        raise DiffError(_why_no_files(text))
    return ChangeSet(files=tuple(_file_change(raw, lines) for raw in files))


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ANSI_AT_LINE_START = re.compile(r"(?m)^\x1b\[")
_COMBINED = re.compile(r"(?m)^(diff --cc |diff --combined |@@@ -)")

_SYMLINK_MODE = "120000"


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n") if "\r\n" in text else text


def _file_change(pf: RawFile, lines: list[str]) -> FileChange:
    info: list[str] = list(pf.patch_info or ())
    renamed_from = header_value(info, "rename from ")
    renamed_to = header_value(info, "rename to ")
    copied_from = header_value(info, "copy from ")
    copied_to = header_value(info, "copy to ")
    has_git_header = bool(info) and info[0].startswith("diff --git ")
    source_name, target_name = pf.source_file, pf.target_file
    if has_git_header:
        same = same_path_header(info[0])
        if same is not None:
            # unidiff splits "diff --git a/x y b/x y" at the wrong space when names hold spaces.
            source_name = DEV_NULL if source_name == DEV_NULL else same
            target_name = DEV_NULL if target_name == DEV_NULL else same
    source, target = strip_prefixes(source_name, target_name)

    old_path: str | None = None
    if copied_from is not None and copied_to is not None:
        path, old_path = copied_to, copied_from
    elif renamed_from is not None and renamed_to is not None:
        path, old_path = renamed_to, renamed_from
    elif target is not None:
        path = target
        if has_git_header and source is not None and source != target:
            old_path = source
    else:
        path = source if source is not None else ""
    if not path:
        raise DiffError(f"malformed diff: a file without a name ({_short(info[:1])})")

    hunks = tuple(_hunk(raw, lines) for raw in pf.hunks)
    if not has_git_header and len(hunks) == 1:
        # Plain, svn and bzr diffs name no /dev/null for a new or deleted file; an empty
        # side (`@@ -0,0 +1,3 @@`) says it.
        if hunks[0].old_start == 0 and hunks[0].old_count == 0:
            source = None
        elif hunks[0].new_start == 0 and hunks[0].new_count == 0:
            target = None
    old_mode, new_mode = pf.source_mode, pf.target_mode
    added = sum(h.added for h in hunks)
    removed = sum(h.removed for h in hunks)
    binary = bool(pf.is_binary_file)
    head = hunks[0].lines[:5] if hunks and source is None else ()

    return FileChange(
        path=path,
        old_path=old_path,
        status=_status(source, target, old_path, copied_from, hunks, old_mode, new_mode, binary),
        kind=classify(path, tuple(line[1:] for line in head)),
        hunks=hunks,
        added=added,
        removed=removed,
        binary=binary,
        old_mode=old_mode,
        new_mode=new_mode,
    )


def _short(header: list[str]) -> str:
    """The first header line of a file, cut for an error message."""
    line = header[0].strip() if header else "no diff header"
    return line if len(line) <= 80 else line[:80] + "…"


def _status(
    source: str | None,
    target: str | None,
    old_path: str | None,
    copied_from: str | None,
    hunks: tuple[Hunk, ...],
    old_mode: str | None,
    new_mode: str | None,
    binary: bool,
) -> Status:
    if _SYMLINK_MODE in (old_mode, new_mode):
        return Status.SYMLINK
    if source is None:
        return Status.ADDED
    if target is None:
        return Status.DELETED
    if copied_from is not None:
        return Status.COPIED
    if old_path is not None:
        return Status.RENAMED
    if binary:
        return Status.BINARY
    if not hunks and old_mode is not None and new_mode is not None and old_mode != new_mode:
        return Status.MODE_ONLY
    return Status.MODIFIED


def _hunk(raw: RawHunk, lines: list[str]) -> Hunk:
    return Hunk(
        old_start=raw.old_start,
        old_count=raw.old_count,
        new_start=raw.new_start,
        new_count=raw.new_count,
        section=raw.section.strip(),
        lines=tuple(lines[raw.start : raw.end]),
        added=raw.added,
        removed=raw.removed,
    )


def _has_combined(text: str) -> re.Match[str] | None:
    if "diff --cc " in text or "diff --combined " in text or "@@@ -" in text:
        return _COMBINED.search(text)
    return None


def _failing_line(text: str) -> int | None:
    """Re-read `text` counting lines, to say where the parser stopped (error path only)."""
    count = 0

    def counted() -> Iterator[str]:
        nonlocal count
        for count, line in enumerate(io.StringIO(text, newline="\n"), 1):  # noqa: B007
            yield line

    try:
        PatchSet(counted())
    except (
        UnidiffParseError,
        ValueError,
        IndexError,
        KeyError,
        TypeError,
        AttributeError,
        AssertionError,
    ):
        return count or None
    return None


def _why_no_files(text: str) -> str:
    """Explain why a non-empty input held no unified file diff, by what it looks like instead."""
    lines = text.splitlines()
    if any(line.startswith(("diff --cc ", "diff --combined ", "@@@ ")) for line in lines):
        return "not readable: a combined (merge) diff; give the diff against one parent instead"
    if any(line.startswith("***************") for line in lines):
        return "not readable: a context diff (diff -c); give a unified diff (diff -u) instead"
    if any(re.match(r"^\d+(,\d+)?[acd]\d+(,\d+)?$", line) for line in lines):
        return "not readable: a normal or ed-style diff; give a unified diff (diff -u) instead"
    if any(line.startswith("Only in ") for line in lines):
        return "no file diffs found: only 'Only in' lines, which say nothing of content"
    if any(line.startswith("@@ ") for line in lines):
        return "no file diffs found: hunks without '---'/'+++' file headers"
    return "no file diffs found in a non-empty input"
