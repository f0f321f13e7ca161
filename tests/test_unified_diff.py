"""The one-pass reader (bot.core.unified_diff) against unidiff's own `metadata_only` parse, which it
replaces: the same files, names, modes, binary flags and hunks (numbers, added, removed, and the
same body lines as unidiff numbered them), or the same error, on every corpus diff and on
generated diff-like text."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

from bot.core.unified_diff import read_files
from tests.conftest import CORPUS_DIR, CORPUS_MISSING


def ours(text: str) -> list[Any] | str:
    lines = text.split("\n")
    try:
        files = read_files(lines, "\r\n" in text)
    except UnidiffParseError as exc:
        return f"error: {exc}"
    return [
        (
            list(f.patch_info or ()),
            f.source_file,
            f.target_file,
            f.is_binary_file,
            f.source_mode,
            f.target_mode,
            [
                (h.old_start, h.old_count, h.new_start, h.new_count, h.section, h.added, h.removed)
                for h in f.hunks
            ],
        )
        for f in files
    ]


def theirs(text: str) -> list[Any] | str:
    headers = text.replace("\r\n", "\n") if "\r\n" in text else text
    try:
        patch = PatchSet(io.StringIO(headers, newline="\n"), metadata_only=True)
    except UnidiffParseError as exc:
        return f"error: {exc}"
    return [
        (
            list(f.patch_info or ()),
            f.source_file,
            f.target_file,
            bool(f.is_binary_file),
            f.source_mode,
            f.target_mode,
            [
                (
                    h.source_start,
                    h.source_length,
                    h.target_start,
                    h.target_length,
                    h.section_header,
                    h.added,
                    h.removed,
                )
                for h in f
            ],
        )
        for f in patch
    ]


def corpus_diffs() -> list[Path]:
    if not CORPUS_DIR.is_dir():
        return []
    return sorted(p for p in CORPUS_DIR.rglob("*") if p.suffix in (".diff", ".patch"))


@pytest.mark.parametrize("path", corpus_diffs(), ids=lambda p: p.name)
def test_every_corpus_diff_reads_as_unidiff_reads_it(path: Path) -> None:
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    assert ours(text) == theirs(text)


def test_the_corpus_is_there() -> None:
    if not corpus_diffs():
        pytest.skip(CORPUS_MISSING)
    assert len(corpus_diffs()) > 50


LINES = st.sampled_from(
    [
        "diff --git a/x.py b/x.py",
        "diff --git a/a b b/a b",
        "diff --git x y",
        "new file mode 100644",
        "deleted file mode 100644",
        "old mode 100644",
        "new mode 100755",
        "index 1234abc..5678def 100644",
        "index 1234abc..5678def",
        "--- a/x.py",
        "--- /dev/null",
        "+++ b/x.py",
        "+++ /dev/null",
        "+++ b/y.py\t2024-01-01",
        "@@ -1,2 +1,2 @@",
        "@@ -1 +1 @@ def f():",
        "@@ -0,0 +1,3 @@",
        "@@ -3,0 +4,0 @@",
        "@@ -1,3 +0,0 @@",
        " context",
        "+added",
        "-removed",
        "--- removed dashes",
        "+++ added pluses",
        "",
        "\r",
        " crlf\r",
        "\\ No newline at end of file",
        "\\ other marker",
        "Binary files a/x.png and b/x.png differ",
        "GIT binary patch",
        "Only in a: x",
        "junk",
        "@@@ -1 +1 @@@",
    ]
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=30), st.booleans(), st.booleans())
# A bare `+++` after a binary patch pairs with the git header's source name, as in unidiff.
@example(["diff --git a/x.py b/x.py", "GIT binary patch", "+++ b/x.py"], False, False)
def test_generated_text_reads_as_unidiff_reads_it(
    lines: list[str], crlf: bool, final_newline: bool
) -> None:
    end = "\r\n" if crlf else "\n"
    text = end.join(lines) + (end if final_newline else "")
    assert ours(text) == theirs(text)
