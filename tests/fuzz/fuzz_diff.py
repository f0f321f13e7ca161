"""Fuzz target: the diff parser (bot.core.diff.parse) reads any bytes into a ChangeSet or raises
DiffError, never another exception.

Run it for as long as you like: `uv run python tests/fuzz/fuzz_diff.py [CORPUS_DIR]
[-runs=N | -max_total_time=S]` (libFuzzer's flags); tests/test_fuzz.py runs it briefly in CI.
A crash prints the input and writes it to `crash-<hash>`; replay it by passing that file.
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped]  # no type hints published

with atheris.instrument_imports(include=["bot"]):  # coverage of our code, not the libraries
    from bot.core.diff import DiffError, parse


def test_one_input(data: bytes) -> None:
    try:
        changes = parse(data)
    except DiffError as exc:
        error: DiffError | None = exc
    else:
        error = None
        assert changes.files, "a ChangeSet is never empty"
        for change in changes.files:
            assert change.path, "every file has a path"
    assert error is None or error.message, "a DiffError says what is wrong"


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
