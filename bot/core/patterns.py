"""Path patterns in repo settings: globs, bounded so that matching them stays fast.

Each glob becomes a backtracking regular expression, whose time grows as the path length to the
power of its wildcards, so a pattern may have at most MAX_WILDCARDS of them, and a list at most
MAX_PATTERNS patterns of MAX_PATTERN_CHARS characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

MAX_WILDCARDS = 3
MAX_PATTERNS = 100
MAX_PATTERN_CHARS = 200


def read_patterns(
    data: Mapping[str, Any], key: str, prefix: str, problems: list[str]
) -> tuple[str, ...]:
    """The patterns under `key` of `data` (one or a list); each refused one is a problem."""
    value = data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"`{prefix}{key}` must be a list of path patterns; ignored")
        return ()
    if len(value) > MAX_PATTERNS:
        problems.append(f"`{prefix}{key}` has more than {MAX_PATTERNS} patterns; ignored")
        return ()
    kept = []
    for pattern in (v.strip() for v in value):
        if len(pattern) > MAX_PATTERN_CHARS or _wildcards(pattern) > MAX_WILDCARDS:
            problems.append(
                f"`{prefix}{key}` pattern `{pattern[:MAX_PATTERN_CHARS]}` is too complex (over "
                f"{MAX_PATTERN_CHARS} characters or {MAX_WILDCARDS} wildcards); ignored"
            )
            continue
        kept.append(pattern)
    return tuple(kept)


def _wildcards(pattern: str) -> int:
    """How many runs of `*` the pattern's regular expression will hold, counting the `**/`
    that a pattern without a slash gets in front."""
    pattern = _normal(pattern)
    return len(re.findall(r"\*+", pattern))


def _normal(pattern: str) -> str:
    """The pattern as `_glob` reads it: no leading slash, `dir/` as `dir/**`, a name without a
    slash as `**/name`, and a run of `**/` as one."""
    pattern = pattern.lstrip("/")
    if pattern.endswith("/"):
        pattern += "**"
    if "/" not in pattern:
        pattern = "**/" + pattern
    return re.sub(r"(?:\*\*/)+", "**/", pattern)


def path_matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether `path` matches any glob: `*` within a folder, `**` across folders, a pattern
    without a slash matches the file name in any folder, and `dir/` matches everything under it.
    """
    return any(_glob(pattern).fullmatch(path) for pattern in patterns)


@lru_cache(maxsize=512)
def _glob(pattern: str) -> re.Pattern[str]:
    pattern = _normal(pattern)
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]*/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))
