"""Text made safe to print: what the command line writes that came from a diff, a model or GitHub.

A diff is untrusted. Its paths and lines can hold terminal escape sequences (which move the
cursor, retitle the window or hide text), other control characters, Unicode direction overrides
(which reorder what a reader sees), and bytes that are not UTF-8 (kept by the diff reader as
lone surrogates, which a strict UTF-8 stream refuses to encode). Every command writes such text
through `printable` (or `json_line`, which applies the same rule to every string in an object),
so what reaches the terminal is what the text holds, escaped where it would not print as itself.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, TextIO

# C0 controls but tab and newline; DEL and the C1 controls (ESC's 8-bit forms); the line and
# paragraph separators; the bidirectional embeddings, overrides and isolates; lone surrogates.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ESCAPED = re.compile(f"[{_UNSAFE}\ud800-\udfff]")
_ESCAPED_LINE = re.compile(f"[{_UNSAFE}\t\n\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if char == "\t":
        return "\\t"
    if char == "\n":
        return "\\n"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with every character that would not print as itself written as an escape
    (`\\x1b`, `\\u202e`, `\\xff` for a byte that was not UTF-8). Tabs and newlines are escaped
    too unless `lines` says the text may span lines (a comment body, a summary)."""
    pattern = _ESCAPED if lines else _ESCAPED_LINE
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


def plain_data(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, strings, numbers) with every string made encodable:
    a lone surrogate (a byte that was not UTF-8) as `\\xNN`. JSON escapes control characters
    itself; a lone surrogate it would pass through, and a strict UTF-8 stream refuses it."""
    if isinstance(value, str):
        return _SURROGATE.sub(_escape, value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        return {plain_data(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(item) for item in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


# What JSON itself leaves unescaped with ensure_ascii=False but a terminal acts on: DEL, the C1
# controls, the line and paragraph separators and the bidirectional marks; written as `\\uXXXX`,
# which every JSON reader reads back as the same character.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def json_line(value: Any) -> str:
    """One JSON object on one line, ending in a newline, safe for any output encoding that
    holds UTF-8 and for a terminal (control characters escaped, undecodable bytes as `\\xNN`)."""
    text = json.dumps(plain_data(value), ensure_ascii=False)
    if _JSON_UNSAFE.search(text) is not None:
        text = _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text + "\n"


def warn(message: str, stream: TextIO | None = None) -> None:
    """One line on standard error, `tierbot: ` first, with anything unprintable escaped."""
    out = stream if stream is not None else sys.stderr
    out.write(f"tierbot: {printable(message)}\n")
    out.flush()
