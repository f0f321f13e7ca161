"""What `tierbot` prints of a diff's own text: never a raw escape sequence or control character,
never a crash on bytes that are not UTF-8 (with a strict UTF-8 standard output too), and diffs
in the encodings Windows tools write. Counts read in the singular where they are one."""

from __future__ import annotations

import codecs
import io
import json
import os
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.counts import counted
from bot.core.printable import json_line, printable
from bot.faces.cli.diff_input import decode_diff
from bot.faces.cli.main import main
from tests.builders import Edit, git_diff

ESC = "\x1b"


def unprintable(text: str) -> list[str]:
    """Characters of `text` that a terminal would act on rather than show (newline aside)."""
    return [
        ch
        for ch in text
        if ch != "\n" and (unicodedata.category(ch) in ("Cc", "Cs") or "\u202a" <= ch <= "\u202e")
    ]


@contextmanager
def strict_utf8_streams() -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """Standard output and error as PYTHONIOENCODING=utf-8:strict makes them: a character that
    is not UTF-8 (a lone surrogate) raises instead of being written."""
    out, err = io.BytesIO(), io.BytesIO()
    saved = sys.stdout, sys.stderr
    streams = [
        io.TextIOWrapper(buffer, encoding="utf-8", errors="strict", write_through=True)
        for buffer in (out, err)
    ]
    sys.stdout, sys.stderr = streams
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved
        for stream in streams:
            stream.detach()  # leave the buffers open to be read


def score_bytes(data: bytes, *options: str) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input.diff"
        path.write_bytes(data)
        with strict_utf8_streams() as (out, err):
            code = main(["score", *options, str(path)])
    return code, out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8")


def diff_around(path: bytes, line: bytes) -> bytes:
    """A well-formed diff whose path and added line are the given bytes."""
    return (
        b"diff --git a/" + path + b" b/" + path + b"\n--- a/" + path + b"\n+++ b/" + path + b"\n"
        b"@@ -1,1 +1,2 @@\n context\n+" + line + b"\n"
    )


FRAGMENTS = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").replace(b" ", b"_"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.builds(diff_around, FRAGMENTS.map(lambda b: b"src/" + b + b".py"), FRAGMENTS),
    ),
    as_json=st.booleans(),
)
# JSON leaves DEL (and the C1 controls) unescaped; the JSON line must not.
@example(data=b"diff --git \x00 \x7f/\x00.py", as_json=True)
def test_any_bytes_are_scored_or_refused_on_a_strict_utf8_stdout_without_raw_controls(
    data: bytes, as_json: bool
) -> None:
    code, out, err = score_bytes(data, *(["--json"] if as_json else []))
    assert code in (0, 2)
    assert unprintable(out) == []
    assert unprintable(err) == []
    if as_json:
        (row,) = [json.loads(line) for line in out.splitlines()]
        assert ("error" in row) == (code == 2)


def test_escape_sequences_in_paths_are_shown_escaped_in_the_table_and_json() -> None:
    evil = f"{ESC}]0;owned{chr(7)}api/{ESC}[2Jmod.py"
    diff = git_diff(Edit(evil, added=["x = 1"]), Edit("db/other.py", added=["y = 2"]))
    code, out, _ = score_bytes(diff.encode())
    assert code == 0
    assert ESC not in out
    assert "\\x1b]0;owned\\x07api" in out  # the areas reason names the path, escaped
    code, out, _ = score_bytes(diff.encode(), "--json")
    assert ESC not in out  # JSON escapes it (\u001b); the value itself is the path as given
    assert any(ESC in reason for reason in json.loads(out)["reasons"])


def test_an_undecodable_file_name_and_escape_sequences_through_the_real_process(
    tmp_path: Path,
) -> None:
    """A file name that is not UTF-8 and holds an escape sequence, a diff with Latin-1 bytes,
    PYTHONIOENCODING=utf-8:strict: scored, printed escaped, no crash."""
    name = os.fsencode(tmp_path) + b"/caf\xe9\x1b[31m.diff"
    with open(name, "wb") as handle:
        handle.write(diff_around(b"app/caf\xe9.py", b"s = '\xe9t\xe9'"))
    strict = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    for options in ([], ["--json"]):
        run = subprocess.run(
            [sys.executable, "-m", "bot", "score", *options, name],
            capture_output=True,
            env=strict,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        text = run.stdout.decode("utf-8")
        assert unprintable(text) == []
        if options:  # JSON: the byte that is not UTF-8 as text, the escape as JSON escapes it
            assert json.loads(text)["path"].endswith("caf\\xe9\x1b[31m.diff")
        else:
            assert "caf\\xe9\\x1b[31m.diff" in text


def test_utf16_and_utf8_bom_diffs_are_read_like_plain_utf8(tmp_path: Path) -> None:
    """PowerShell's `git diff > x.diff` writes UTF-16 with a byte-order mark."""
    diff = git_diff(Edit("app/util.py", removed=["x = 'é'"], added=["x = 'ü'"]))
    plain = tmp_path / "plain.diff"
    plain.write_bytes(diff.encode())
    inputs = [plain]
    for name, data in (
        ("utf16le.diff", codecs.BOM_UTF16_LE + diff.encode("utf-16-le")),
        ("utf16be.diff", codecs.BOM_UTF16_BE + diff.encode("utf-16-be")),
        ("utf8bom.diff", codecs.BOM_UTF8 + diff.encode()),
        ("powershell.diff", diff.replace("\n", "\r\n").encode("utf-16")),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        inputs.append(path)
    run = subprocess.run(
        [sys.executable, "-m", "bot", "score", "--json", *map(str, inputs)],
        capture_output=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert [(r["files"], r["additions"], r["deletions"]) for r in rows] == [(1, 1, 1)] * 5
    assert len({r["score"] for r in rows}) == 1


def test_invalid_utf8_is_read_with_replacement_characters() -> None:
    assert decode_diff(b"+caf\xe9\n") == "+caf\ufffd\n"
    assert decode_diff(codecs.BOM_UTF8 + b"+x\n") == "+x\n"
    assert decode_diff(codecs.BOM_UTF32_LE + "+x\n".encode("utf-32-le")) == "+x\n"


def test_printable_escapes_what_a_terminal_would_act_on_and_keeps_the_rest() -> None:
    assert printable("naïve 日本 ✓") == "naïve 日本 ✓"
    assert printable(f"{ESC}[31mred") == "\\x1b[31mred"
    assert printable("a\tb\nc") == "a\\tb\\nc"
    assert printable("a\tb\nc", lines=True) == "a\tb\nc"  # a comment's text keeps its lines
    assert printable("\x9b2J \u202eevil\u202c \x7f") == "\\x9b2J \\u202eevil\\u202c \\x7f"
    assert printable(b"caf\xe9".decode("utf-8", "surrogateescape")) == "caf\\xe9"
    line = json_line({"path": b"\xff".decode("utf-8", "surrogateescape"), "n": [1, "\x1b"]})
    line.encode("utf-8")  # strict: no lone surrogate left
    assert json.loads(line) == {"path": "\\xff", "n": [1, "\x1b"]}


def test_counts_are_singular_for_one() -> None:
    assert counted(1, "file") == "1 file"
    assert counted(2, "file") == "2 files"
    assert counted(0, "file") == "0 files"
    assert counted(1, "retry", "retries") == "1 retry"
    assert counted(3, "retry", "retries") == "3 retries"
    assert counted(0, "comment", none="no comments") == "no comments"


def test_score_reasons_and_the_review_text_use_singular_counts(tmp_path: Path) -> None:
    path = tmp_path / "one.diff"
    path.write_text(git_diff(Edit("app/util.py", added=["if x:", "    y = 1"])))
    code, out, _ = score_bytes(path.read_bytes(), "--json")
    assert code == 0
    reasons = " ".join(json.loads(out)["reasons"])
    assert "1 new decision point (+" in reasons
    assert "2 changed lines of substance in 1 file" in reasons
    assert "1 files" not in reasons
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("TIERBOT_", "ANTHROPIC_"))}
    run = subprocess.run(
        [sys.executable, "-m", "bot", "review", "--diff", str(path)],
        capture_output=True,
        env=bare,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    text = run.stdout.decode()
    assert "Decision: local (no local model configured)" in text
    assert "(local)" not in text
    named = subprocess.run(
        [sys.executable, "-m", "bot", "review", "--diff", str(path)],
        capture_output=True,
        env={**bare, "TIERBOT_LOCAL_MODEL_DIR": "/models/Qwen2.5-Coder-7B-exl2"},
        check=False,
    )
    assert "Decision: local (Qwen2.5-Coder-7B-exl2)" in named.stdout.decode()


def test_review_prints_a_diff_path_with_escapes_escaped(tmp_path: Path) -> None:
    """The text review names its input and the files it skips: escaped, never raw."""
    name = tmp_path / f"change{ESC}[2J.diff"
    evil = f"vendor{ESC}]0;owned{chr(7)}/lib.min.js"
    name.write_text(git_diff(Edit("app/util.py", added=["x = 2"]), Edit(evil, added=["y"] * 3)))
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("TIERBOT_", "ANTHROPIC_"))}
    run = subprocess.run(
        [sys.executable, "-m", "bot", "review", "--diff", str(name)],
        capture_output=True,
        env=bare,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    text = run.stdout.decode()
    assert unprintable(text) == []
    assert "change\\x1b[2J.diff" in text
