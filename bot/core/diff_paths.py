"""Path names in a diff's headers: git's C-style quoting undone, `a/` `b/` prefixes taken off,
and the one name of a `diff --git A B` header whose two names are equal."""

from __future__ import annotations

import re

_PREFIX = re.compile(r"^([abciow12]/|[A-Za-z][\w+.-]*://)")
DEV_NULL = "/dev/null"


def same_path_header(header: str) -> str | None:
    """The one name in a `diff --git A B` header whose two names are equal, else None."""
    rest = header[len("diff --git ") :].rstrip("\r\n")
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        while end != -1 and rest[end - 1] == "\\":
            end = rest.find('" ', end + 1)
        if end == -1:
            return None
        first, second = rest[: end + 1], rest[end + 2 :]
    else:
        half = len(rest) // 2
        if len(rest) % 2 == 0 or rest[half] != " ":
            return None
        first, second = rest[:half], rest[half + 1 :]
    a, b = strip_prefixes(first, second)
    return first if a == b else None


def header_value(info: list[str], key: str) -> str | None:
    for line in info:
        if line.startswith(key):
            return unquote(line[len(key) :].rstrip("\r\n"))
    return None


def strip_prefixes(source: str | None, target: str | None) -> tuple[str | None, str | None]:
    """Names without git's `a/` `b/` (or mnemonic, or `x://`) prefixes; None for /dev/null."""
    names = [unquote(n) if n and n != DEV_NULL else None for n in (source, target)]
    real = [n for n in names if n is not None]
    if real and all(_PREFIX.match(n) for n in real):
        names = [_PREFIX.sub("", n, count=1) if n is not None else None for n in names]
    return names[0], names[1]


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote(name: str) -> str:
    """Undo git's C-style quoting of paths with special or non-ASCII characters."""
    name = name.strip()
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    body, out, i = name[1:-1], bytearray(), 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(c in "01234567" for c in octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
            if nxt in _C_ESCAPES:
                out.append(_C_ESCAPES[nxt])
                i += 2
                continue
        try:
            out.extend(char.encode("utf-8", errors="surrogateescape"))
        except UnicodeEncodeError:  # a lone surrogate in str input, not an escaped byte
            out.extend(b"?")
        i += 1
    return out.decode("utf-8", errors="replace")
