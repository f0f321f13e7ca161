"""Fuzz target: the repo settings parser (RepoSettings.from_yaml in bot.core.repo_settings) turns
any text into usable settings, with problems for what it ignored, in bounded time and memory: it
never raises (a YAML bomb, deep nesting or an unbuildable scalar is one problem and the defaults).

Run it for as long as you like: `uv run python tests/fuzz/fuzz_settings.py [CORPUS_DIR]
[-runs=N | -max_total_time=S] [-timeout=S] [-rss_limit_mb=MB]` (libFuzzer's flags);
tests/test_fuzz.py runs it briefly in CI.
"""

from __future__ import annotations

import math
import sys

import atheris  # type: ignore[import-untyped]  # no type hints published

with atheris.instrument_imports(include=["bot"]):  # coverage of our code, not the libraries
    from bot.core.patterns import path_matches
    from bot.core.repo_settings import RepoSettings


def test_one_input(data: bytes) -> None:
    repo = RepoSettings.from_yaml(data.decode("utf-8", errors="replace"))
    assert 0 <= repo.threshold <= 101
    assert 0 <= repo.max_comments <= 100
    budget = repo.frontier_budget_usd
    assert budget is None or (budget.is_finite() and budget >= 0)
    assert math.isfinite(repo.escalation.mean_entropy)
    for pattern in (*repo.exclude, *repo.frontier_paths, *repo.local_paths):
        path_matches("src/" * 20 + "a.py", (pattern,))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
