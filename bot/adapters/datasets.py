"""Labelled changes for `tierbot eval`, read from a JSON Lines file (one change per line) in
either of two formats, told apart line by line.

tierbot's own: `{"id": "...", "diff": "<a unified diff>", "findings": [{"path": "...",
"line": 12, "side": "RIGHT", "severity": "major", "note": "..."}]}`. `findings` must be there;
an empty list is a clean change. Each finding needs `path` (a file the diff changes) and `line`
(on the new side unless `side` is `LEFT`); `side`, `severity` (critical, major, minor, nit) and
`note` are optional; `id` is optional (the line number stands in) and must be unique.

CodeReviewer's comment-generation data (Microsoft's CodeReviewer, msg-train/valid/test.jsonl;
its reader is CodeReviewer/code/utils.py in microsoft/CodeBERT): `patch` is one bare diff hunk
that starts with `@@ -a,b +c,d @@` and has no file header; `msg` is the human reviewer's comment
on it (empty or missing: the change needed none, a clean change); `oldf` is the file before the
change; `lang` names its language (`py`, `java`, `go`, ...); an `id`, where a line has one, names
the change. Only `patch`, `msg` and `lang` are used:
the review sees what the App would see, the hunk with its own context lines, so `oldf` is
accepted and not sent. The file header is made up (`change-N.EXT`, N the line number, EXT from
`lang`), the hunk's line counts are taken from its body (a trailing newline or a blank context
line stripped elsewhere breaks the stated counts), and the comment, whose line is unknown, is
expected on the hunk's changed lines: added lines on the new side, removed ones on the old.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.core.answer_schema import Severity
from bot.core.diff import ChangeSet, DiffError, Side, parse
from bot.core.findings import Expected, Labelled, Span

TIERBOT = "tierbot"
CODEREVIEWER = "codereviewer"

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")
# CodeReviewer's `lang` values, and the extension that gives the made-up file its language.
_EXTENSIONS = {
    "py": ".py",
    "java": ".java",
    "go": ".go",
    "js": ".js",
    "php": ".php",
    "rb": ".rb",
    "c": ".c",
    "cpp": ".cpp",
    "cs": ".cs",
    "ts": ".ts",
    "rs": ".rs",
    "kt": ".kt",
}


class DatasetError(ValueError):
    """A dataset that cannot be used: what is wrong, and on which line of the file."""


def read_dataset(path: Path, limit: int | None = None) -> list[Labelled]:
    """The labelled changes in the JSON Lines file at `path` (the first `limit` of them); blank
    lines are skipped. Raises OSError when the file cannot be read, DatasetError when a line
    is not a change in either format."""
    changes: list[Labelled] = []
    ids: dict[str, int] = {}
    with path.open("rb") as lines:  # line by line: a --limit reads only what it uses
        for number, line in enumerate(lines, start=1):
            if limit is not None and len(changes) >= limit:
                break
            try:
                text = line.rstrip(b"\n").decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                raise DatasetError(f"line {number}: not UTF-8 text") from None
            if not text.strip():
                continue
            change = labelled(text, number)
            if change.id in ids:
                raise DatasetError(
                    f"line {number}: the id {change.id!r} is also on line {ids[change.id]}"
                )
            ids[change.id] = number
            changes.append(change)
    if not changes:
        raise DatasetError(f"{path}: no labelled change in the file")
    return changes


def labelled(text: str, line: int) -> Labelled:
    """One line of a dataset as a labelled change, whichever format it is in."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"line {line}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise DatasetError(f"line {line}: a change must be a JSON object")
    if "diff" in record:
        return _tierbot(record, line)
    if "patch" in record:
        return _codereviewer(record, line)
    raise DatasetError(
        f"line {line}: neither tierbot's format (id, diff, findings) nor CodeReviewer's "
        "(patch, msg, oldf)"
    )


def _text(record: dict[str, Any], key: str, line: int, *, required: bool = True) -> str:
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise DatasetError(f"line {line}: `{key}` must be a string")
    return value


def _id(record: dict[str, Any], line: int) -> str:
    """The change's `id`, or its line number where it has none."""
    value = record.get("id")
    if value is None:
        return f"line {line}"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise DatasetError(f"line {line}: `id` must be a string or a number")


def _tierbot(record: dict[str, Any], line: int) -> Labelled:
    diff = _text(record, "diff", line)
    findings = record.get("findings")
    if not isinstance(findings, list):
        raise DatasetError(
            f"line {line}: `findings` must be a list (an empty one for a change with none)"
        )
    try:
        changes: ChangeSet | None = parse(diff)
    except DiffError:
        changes = None  # reported as that change's failure, like any unreadable diff
    expected = tuple(_finding(f, i, line, changes) for i, f in enumerate(findings, start=1))
    return Labelled(_id(record, line), diff, expected, TIERBOT, line)


def _finding(raw: Any, index: int, line: int, changes: ChangeSet | None) -> Expected:
    where = f"line {line}: finding {index}"
    if not isinstance(raw, dict):
        raise DatasetError(f"{where} must be an object with `path` and `line`")
    path, number = raw.get("path"), raw.get("line")
    if not isinstance(path, str) or not path:
        raise DatasetError(f"{where}: `path` must be a file's path")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise DatasetError(f"{where}: `line` must be a line number (1 or more)")
    side = raw.get("side", Side.RIGHT.value)
    if side not in (Side.RIGHT.value, Side.LEFT.value):
        raise DatasetError(f"{where}: `side` must be RIGHT (new code) or LEFT (removed code)")
    severity = raw.get("severity")
    if severity is not None and severity not in {s.value for s in Severity}:
        raise DatasetError(f"{where}: `severity` must be one of critical, major, minor, nit")
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise DatasetError(f"{where}: `note` must be a string")
    if changes is not None and changes.file(path) is None:
        shown = ", ".join(f.path for f in changes.files)
        raise DatasetError(f"{where}: {path} is not a file the diff changes ({shown})")
    return Expected(path, (Span(Side(side), number, number),), severity, note)


def _codereviewer(record: dict[str, Any], line: int) -> Labelled:
    patch = _text(record, "patch", line)
    message = _text(record, "msg", line, required=False).strip()
    _text(record, "oldf", line, required=False)  # checked, not used: see the module docstring
    lang = _text(record, "lang", line, required=False).strip().lstrip(".").lower()
    extension = _EXTENSIONS.get(lang) or (f".{lang}" if lang.isalnum() else ".txt")
    path = f"change-{line}{extension}"
    diff = _hunk_diff(patch, path, line)
    try:
        changes = parse(diff)
    except DiffError as exc:
        raise DatasetError(f"line {line}: `patch` is not a readable diff hunk: {exc}") from None
    expected = (Expected(path, _changed_spans(changes), None, message),) if message else ()
    return Labelled(_id(record, line), diff, expected, CODEREVIEWER, line)


def _hunk_diff(patch: str, path: str, line: int) -> str:
    """A git diff of one file made from bare hunks: a header, and each hunk's counts taken
    from its body."""
    lines = patch.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1]:
        lines.pop()
    if not lines or _HUNK.match(lines[0]) is None:
        raise DatasetError(f"line {line}: `patch` must be a diff hunk starting with `@@ -`")
    hunks: list[tuple[re.Match[str], list[str]]] = []
    for text in lines:
        header = _HUNK.match(text)
        if header is not None:
            hunks.append((header, []))
        elif text[:1] in ("+", "-", " ", "\\"):
            hunks[-1][1].append(text)
        else:  # a context line whose leading space was lost (as CodeReviewer's reader reads it)
            hunks[-1][1].append(" " + text)
    out = []
    for header, body in hunks:
        old = sum(1 for text in body if text[:1] in (" ", "-"))
        new = sum(1 for text in body if text[:1] in (" ", "+"))
        out.append(f"@@ -{header[1]},{old} +{header[2]},{new} @@{header[3]}")
        out.extend(body)
    first = hunks[0][0]
    old_name = "/dev/null" if first[1] == "0" and len(hunks) == 1 else f"a/{path}"
    new_name = "/dev/null" if first[2] == "0" and len(hunks) == 1 else f"b/{path}"
    head = [f"diff --git a/{path} b/{path}", f"--- {old_name}", f"+++ {new_name}"]
    return "\n".join(head + out) + "\n"


def _changed_spans(changes: ChangeSet) -> tuple[Span, ...]:
    """Where a comment on the hunk may sit: from its first to its last added line on the new
    side, and its first to last removed line on the old; its shown lines when it changes none."""
    change = changes.files[0]
    added = [new for h in change.hunks for kind, _, new, _ in h.numbered() if kind == "+" and new]
    removed = [old for h in change.hunks for old in h.removed_lines()]
    spans = []
    if added:
        spans.append(Span(Side.RIGHT, min(added), max(added)))
    if removed:
        spans.append(Span(Side.LEFT, min(removed), max(removed)))
    if not spans:
        shown = [n for h in change.hunks for n in h.new_range]
        if shown:
            spans.append(Span(Side.RIGHT, min(shown), max(shown)))
    return tuple(spans)
