"""A diff as a person gives it to the command line: a file or standard input, in the encoding
their tools wrote it.

PowerShell's `>` writes UTF-16 with a byte-order mark; some Windows editors put a UTF-8 one in
front. Git writes bytes as they are in the files, so a diff may hold bytes that are not UTF-8
(a Latin-1 file, a binary fragment): those are read as U+FFFD, the replacement character, so
they reach neither a model nor a terminal as raw bytes.
"""

from __future__ import annotations

import codecs
import sys
from pathlib import Path
from typing import BinaryIO, TextIO

STDIN = "-"

# Longest first: a UTF-32 little-endian mark begins with the UTF-16 one.
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_diff(data: bytes) -> str:
    """The text of a diff: by its byte-order mark when it has one (the mark dropped), else
    UTF-8; bytes that do not decode become U+FFFD."""
    for mark, encoding in _MARKS:
        if data.startswith(mark):
            return data[len(mark) :].decode(encoding, errors="replace")
    return data.decode("utf-8", errors="replace")


def read_diff(path: str, *, stdin: BinaryIO | None = None, notices: TextIO | None = None) -> str:
    """The diff at `path`, or on standard input for `-`. At a terminal, a notice on stderr
    says it is waiting for standard input, which would otherwise look like a hang.
    Raises OSError when the file cannot be read."""
    if path != STDIN:
        return decode_diff(Path(path).read_bytes())
    source = stdin if stdin is not None else sys.stdin.buffer
    if source.isatty():
        out = notices if notices is not None else sys.stderr
        out.write(
            "tierbot: reading the diff from standard input; end it with Ctrl-D "
            "(Ctrl-Z then Enter on Windows)\n"
        )
        out.flush()
    return decode_diff(source.read())
