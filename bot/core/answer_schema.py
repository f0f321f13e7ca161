"""What a model must answer with, and the reading of that answer into comments.

The answer is JSON: a short summary and a list of comments, each citing a file, a line (on the
new side, RIGHT, or on removed code, LEFT), the code it is about, a severity, a category, the
text, and optionally a replacement for the cited lines. Reading is lenient per comment (one bad
comment does not cost the others) and strict about shape: anything wrong is counted in
`problems`, which the confidence check and the summary use.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How much a comment matters, most severe first: critical (breaks production, loses data,
    opens a security hole), major (blocks merging), minor (worth fixing), nit (small)."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    NIT = "nit"

    @property
    def rank(self) -> int:
        """0 for the most severe."""
        return list(Severity).index(self)


CATEGORIES = (
    "bug",
    "security",
    "performance",
    "concurrency",
    "error-handling",
    "api",
    "tests",
    "maintainability",
    "readability",
    "docs",
    "other",
)

MAX_BODY_CHARS = 4000
MAX_SUMMARY_CHARS = 2000

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "summary": {
            "type": "string",
            "description": "Two to four sentences: what the change does and its main risks.",
        },
        "comments": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The file, as in its header."},
                    "line": {
                        "type": "integer",
                        "description": "The line number shown at the left of the cited line.",
                    },
                    "start_line": {
                        "type": "integer",
                        "description": "First line of a multi-line range in the same hunk.",
                    },
                    "side": {
                        "type": "string",
                        "enum": ["RIGHT", "LEFT"],
                        "description": "LEFT only for removed lines (numbers in parentheses).",
                    },
                    "code": {
                        "type": "string",
                        "description": "The cited line's code, copied exactly.",
                    },
                    "severity": {"type": "string", "enum": [s.value for s in Severity]},
                    "category": {"type": "string", "enum": list(CATEGORIES)},
                    "body": {"type": "string", "description": "The comment, in Markdown."},
                    "suggestion": {
                        "type": "string",
                        "description": "Replacement text for the cited lines, when it is exact.",
                    },
                },
                "required": ["path", "line", "side", "code", "severity", "category", "body"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["summary", "comments"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class RawComment:
    """A comment as the model gave it, before it is checked against the diff."""

    path: str
    line: int
    side: str
    code: str
    severity: Severity
    category: str
    body: str
    start_line: int | None = None
    suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class ModelReview:
    """The reading of one answer. `valid` is False when the answer as a whole was unusable.
    `indices` are the places of `comments` in the answer's comment list (bad ones are left out)."""

    summary: str
    comments: tuple[RawComment, ...]
    problems: tuple[str, ...]
    valid: bool
    indices: tuple[int, ...] = ()


def read_answer(parsed: Any) -> ModelReview:
    """Read a decoded JSON answer (or None when the text was not JSON) into a ModelReview."""
    if parsed is None:
        return ModelReview("", (), ("the answer is not JSON",), valid=False)
    if not isinstance(parsed, dict):
        return ModelReview("", (), ("the answer is not a JSON object",), valid=False)
    problems: list[str] = []
    summary = parsed.get("summary")
    if not isinstance(summary, str):
        problems.append("the answer has no summary")
        summary = ""
    raw_comments = parsed.get("comments")
    if not isinstance(raw_comments, list):
        problems.append("the answer has no comment list")
        return ModelReview(summary[:MAX_SUMMARY_CHARS], (), tuple(problems), valid=False)
    comments: list[RawComment] = []
    indices: list[int] = []
    for index, item in enumerate(raw_comments):
        comment, problem = _comment(item)
        if comment is not None:
            comments.append(comment)
            indices.append(index)
        else:
            problems.append(f"comment {index + 1}: {problem}")
    return ModelReview(
        summary.strip()[:MAX_SUMMARY_CHARS],
        tuple(comments),
        tuple(problems),
        True,
        tuple(indices),
    )


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def comment_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Where each item of the answer's top-level `comments` list is in `text` (start, end), so
    the tokens the model wrote for one comment can be told apart; () when `text` is not a JSON
    object with such a list."""
    try:
        at = _skip(text, 0)
        if text[at : at + 1] != "{":
            return ()
        at = _skip(text, at + 1)
        while text[at : at + 1] not in ("}", ""):
            key, at = _DECODER.raw_decode(text, at)
            at = _skip(text, at)
            if text[at : at + 1] != ":":
                return ()
            at = _skip(text, at + 1)
            if key == "comments" and text[at : at + 1] == "[":
                return _items(text, _skip(text, at + 1))
            _, at = _DECODER.raw_decode(text, at)
            at = _after_comma(text, at)
    except ValueError:  # json.JSONDecodeError: not JSON where a value should be
        return ()
    return ()


def _items(text: str, at: int) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    while text[at : at + 1] not in ("]", ""):
        _, end = _DECODER.raw_decode(text, at)
        spans.append((at, end))
        at = _after_comma(text, end)
    return tuple(spans)


def _skip(text: str, at: int) -> int:
    found = _SPACE.match(text, at)
    return found.end() if found else at


def _after_comma(text: str, at: int) -> int:
    at = _skip(text, at)
    return _skip(text, at + 1) if text[at : at + 1] == "," else at


def _comment(item: Any) -> tuple[RawComment | None, str]:
    if not isinstance(item, dict):
        return None, "not an object"
    path, line, side = item.get("path"), item.get("line"), item.get("side", "RIGHT")
    body, code = item.get("body"), item.get("code", "")
    if not isinstance(path, str) or not path.strip():
        return None, "no path"
    if isinstance(line, bool) or not isinstance(line, int) or line < 1:
        return None, f"line is not a positive whole number: {line!r}"
    if side not in ("RIGHT", "LEFT"):
        return None, f"side must be RIGHT or LEFT, not {side!r}"
    if not isinstance(body, str) or not body.strip():
        return None, "no body"
    try:
        severity = Severity(str(item.get("severity", "minor")).lower())
    except ValueError:
        return None, f"unknown severity {item.get('severity')!r}"
    category = item.get("category", "other")
    if category not in CATEGORIES:
        category = "other"
    start = item.get("start_line")
    if isinstance(start, bool) or not isinstance(start, int) or not 1 <= start < line:
        start = None
    suggestion = item.get("suggestion")
    if not isinstance(suggestion, str):
        suggestion = None
    return RawComment(
        path=path.strip(),
        line=line,
        side=side,
        code=code if isinstance(code, str) else "",
        severity=severity,
        category=category,
        body=body.strip()[:MAX_BODY_CHARS],
        start_line=start,
        suggestion=suggestion,
    ), ""
