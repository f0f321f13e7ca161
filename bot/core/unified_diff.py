"""A unified diff's files, read in one pass: their headers as unidiff reads them, and where each
hunk's body lies in the input.

unidiff (https://github.com/matiasb/python-unidiff) reads headers in every dialect tierbot
accepts, but walks each hunk body line by line in Python, even with `metadata_only`, and the
ChangeSet then had to cut the bodies out of the input again: two passes. Here the header logic is
unidiff 1.0's `PatchSet._parse`, on its own patterns (unidiff.constants), line for line, with the
same errors; a hunk body is measured with string counts in C instead, in as many slices as it
takes (each no longer than what remains to be read, so a valid body is never overrun). A body
those counts cannot vouch for (a line of another kind, a body too long or cut short) is walked
line by line as unidiff walks it, so its error is unidiff's. tests/test_unified_diff.py holds
the two to the same answers, so a unidiff release that reads differently shows there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from unidiff.constants import (
    DEV_NULL,
    RE_BINARY_DIFF,
    RE_DIFF_GIT_DELETED_FILE,
    RE_DIFF_GIT_HEADER,
    RE_DIFF_GIT_HEADER_NO_PREFIX,
    RE_DIFF_GIT_HEADER_URI_LIKE,
    RE_DIFF_GIT_INDEX,
    RE_DIFF_GIT_NEW_FILE,
    RE_DIFF_GIT_NEW_MODE,
    RE_DIFF_GIT_OLD_MODE,
    RE_HUNK_HEADER,
    RE_NO_NEWLINE_MARKER,
    RE_SOURCE_FILENAME,
    RE_TARGET_FILENAME,
)
from unidiff.errors import UnidiffParseError

# A body line of no kind unidiff knows: not context (" ", or empty, or starting with a CR),
# added, removed, or a "\" marker.
_OTHER_LINE = re.compile(r"\n[^ +\-\\\r\n]")


@dataclass(slots=True)
class RawHunk:
    """One hunk: its header's numbers and section, and its body as `lines[start:end]` of the
    input (a `\\` marker right after it included)."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str
    start: int
    end: int
    added: int
    removed: int


@dataclass(slots=True)
class RawFile:
    """One file's headers as unidiff reads them, and its hunks."""

    patch_info: list[str] | None
    source_file: str | None
    target_file: str | None
    is_binary_file: bool = False
    source_mode: str | None = None
    target_mode: str | None = None
    hunks: list[RawHunk] = field(default_factory=list)


def read_files(lines: list[str], crlf: bool) -> list[RawFile]:
    """The files of a diff split at "\\n" (`text.split("\\n")`); `crlf` when the text holds
    "\\r\\n", whose CRs headers are read without. UnidiffParseError as unidiff raises it."""
    count = len(lines) - 1 if lines and lines[-1] == "" else len(lines)
    files: list[RawFile] = []
    current: RawFile | None = None
    info: list[str] | None = None
    source_file: str | None = None
    at = 0
    while at < count:
        line = _header(lines, at, count, crlf)
        at += 1
        git = (
            RE_DIFF_GIT_HEADER.match(line)
            or RE_DIFF_GIT_HEADER_URI_LIKE.match(line)
            or RE_DIFF_GIT_HEADER_NO_PREFIX.match(line)
        )
        if git:
            info = [line]
            source_file = git.group("source")  # as unidiff: a later bare `+++` pairs with it
            current = RawFile(info, source_file, git.group("target"))
            files.append(current)
            continue
        found = RE_DIFF_GIT_NEW_FILE.match(line)
        if found:
            if current is None or info is None:
                raise UnidiffParseError(f"Unexpected new file found: {line}")
            current.source_file = DEV_NULL
            current.target_mode = found.group("mode")
            info.append(line)
            continue
        found = RE_DIFF_GIT_DELETED_FILE.match(line)
        if found:
            if current is None or info is None:
                raise UnidiffParseError(f"Unexpected deleted file found: {line}")
            current.target_file = DEV_NULL
            current.source_mode = found.group("mode")
            info.append(line)
            continue
        if current is not None and info is not None and _git_mode(current, info, line):
            continue
        found = RE_SOURCE_FILENAME.match(line)
        if found:
            source_file = found.group("filename")
            if current is not None and info is None:
                current = None
            continue
        found = RE_TARGET_FILENAME.match(line)
        if found:
            target_file = found.group("filename")
            if current is not None and current.target_file != target_file:
                raise UnidiffParseError(f"Target without source: {line}")
            if current is None:
                if source_file is None:
                    raise UnidiffParseError(f"Target without source: {line}")
                current = RawFile(info, source_file, target_file)
                files.append(current)
                info = source_file = None
            continue
        found = RE_HUNK_HEADER.match(line)
        if found:
            info = None
            if current is None:
                raise UnidiffParseError(f"Unexpected hunk found: {line}")
            hunk = _hunk(found.groups(), lines, at, count, crlf)
            current.hunks.append(hunk)
            at = hunk.end
            ended = hunk.end > hunk.start and lines[hunk.end - 1][:1] == "\\"
            if at < count and lines[at][:1] == "\\" and not ended:
                hunk.end += 1  # kept in the body; the loop still reads it as unidiff does
            continue
        if RE_NO_NEWLINE_MARKER.match(line):
            if current is None:
                raise UnidiffParseError(f"Unexpected marker: {line}")
            if not current.hunks:
                raise UnidiffParseError("Unexpected marker: No newline at end of file")
            continue
        if line == "\n" and current is not None and current.hunks:
            continue
        if info is None:
            current = None
            info = []
        found = RE_BINARY_DIFF.match(line)
        if found:
            source_file = found.group("source_filename")
            info.append(line)
            if current is not None:
                current.is_binary_file = True
            else:
                target = found.group("target_filename") or source_file
                files.append(RawFile(info, source_file, target, is_binary_file=True))
            info = current = None
            continue
        if line == "GIT binary patch\n":
            if current is None:
                raise UnidiffParseError(f"Unexpected binary patch marker: {line}")
            current.is_binary_file = True
            info = current = None
            continue
        info.append(line)
    return files


def _header(lines: list[str], at: int, count: int, crlf: bool) -> str:
    """Line `at` as unidiff's line iterator gives it: its "\\n" back on, a CR before it off."""
    line = lines[at]
    if at + 1 == len(lines):
        return line  # the last line, without a newline
    if crlf and line.endswith("\r"):
        line = line[:-1]
    return line + "\n"


def _git_mode(current: RawFile, info: list[str], line: str) -> bool:
    """A git mode or index line of the file being read, its mode taken; False for any other."""
    found = RE_DIFF_GIT_OLD_MODE.match(line)
    if found:
        current.source_mode = found.group("mode")
    elif found := RE_DIFF_GIT_NEW_MODE.match(line):
        current.target_mode = found.group("mode")
    elif found := RE_DIFF_GIT_INDEX.match(line):
        mode = found.group("mode")
        current.source_mode = current.source_mode or mode
        current.target_mode = current.target_mode or mode
    else:
        return False
    info.append(line)
    return True


def _hunk(
    groups: tuple[str | None, ...], lines: list[str], start: int, count: int, crlf: bool
) -> RawHunk:
    """The hunk whose header is `groups` and whose body starts at `lines[start]`."""
    old_start, old_len, new_start, new_len, section = groups
    hunk = RawHunk(
        old_start=int(old_start or 0),
        old_count=1 if old_len is None else int(old_len),
        new_start=int(new_start or 0),
        new_count=1 if new_len is None else int(new_len),
        section=section or "",
        start=start,
        end=start,
        added=0,
        removed=0,
    )
    if hunk.old_count == hunk.new_count == 0 and start < count:
        return _walked(hunk, lines, start, count, crlf)  # unidiff reads one line even so
    old = new = 0
    at = start
    while old < hunk.old_count or new < hunk.new_count:
        take = min(max(hunk.old_count - old, hunk.new_count - new), count - at)
        chunk = lines[at : at + take]
        joined = "\n" + "\n".join(chunk)
        if take == 0 or _OTHER_LINE.search(joined):
            return _walked(hunk, lines, start, count, crlf)  # unidiff's error, found its way
        added, removed = joined.count("\n+"), joined.count("\n-")
        context = take - added - removed - joined.count("\n\\")
        old, new, at = old + context + removed, new + context + added, at + take
        hunk.added, hunk.removed = hunk.added + added, hunk.removed + removed
        if old > hunk.old_count or new > hunk.new_count:
            return _walked(hunk, lines, start, count, crlf)
    hunk.end = at
    return hunk


def _walked(hunk: RawHunk, lines: list[str], start: int, count: int, crlf: bool) -> RawHunk:
    """The hunk read line by line as unidiff reads it with `metadata_only`: where the counts
    could not vouch for it, this raises unidiff's error (or, rarely, finds it valid after all)."""
    old = new = added = removed = 0
    at = start
    while at < count:
        line = _header(lines, at, count, crlf)
        at += 1
        kind = " " if line[0] in "\r\n" else line[0]
        if kind not in "+- \\":
            raise UnidiffParseError(f"Hunk diff line expected: {line}")
        if kind == "+":
            new, added = new + 1, added + 1
        elif kind == "-":
            old, removed = old + 1, removed + 1
        elif kind == " ":
            old, new = old + 1, new + 1
        if old > hunk.old_count or new > hunk.new_count:
            raise UnidiffParseError("Hunk is longer than expected")
        if old == hunk.old_count and new == hunk.new_count:
            break
    if old < hunk.old_count or new < hunk.new_count:
        raise UnidiffParseError("Hunk is shorter than expected")
    hunk.end, hunk.added, hunk.removed = at, added, removed
    return hunk
