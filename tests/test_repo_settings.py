"""Repo settings from `.github/tierbot.yml`: every key read, and every bad value reported."""

from __future__ import annotations

import pytest

from bot.core.patterns import path_matches
from bot.core.repo_settings import DEFAULT_THRESHOLD, RepoSettings


def test_repo_settings_read_every_key() -> None:
    repo = RepoSettings.from_yaml(
        """
routing:
  threshold: 60
  frontier_paths: ["auth/**", "*.sql"]
  local_paths: docs/
exclude:
  - vendor/
"""
    )
    assert repo.threshold == 60
    assert repo.frontier_paths == ("auth/**", "*.sql")
    assert repo.local_paths == ("docs/",)
    assert repo.exclude == ("vendor/",)
    assert repo.problems == ()


def test_an_empty_file_gives_defaults_without_problems() -> None:
    assert RepoSettings.from_yaml("") == RepoSettings()
    assert RepoSettings.from_yaml("# nothing\n") == RepoSettings()


def test_unknown_keys_are_reported_not_ignored_silently() -> None:
    repo = RepoSettings.from_yaml("treshold: 10\nrouting:\n  thresold: 5\n")
    assert repo.threshold == DEFAULT_THRESHOLD
    assert repo.problems == (
        "unknown key `treshold` ignored",
        "unknown key `routing.thresold` ignored",
    )


@pytest.mark.parametrize("value", ["high", "true", "-1", "150", "12.5"])
def test_a_bad_threshold_falls_back_to_the_default_and_says_so(value: str) -> None:
    repo = RepoSettings.from_yaml(f"routing:\n  threshold: {value}\n")
    assert repo.threshold == DEFAULT_THRESHOLD
    assert len(repo.problems) == 1
    assert "routing.threshold" in repo.problems[0]


def test_bad_path_lists_are_reported() -> None:
    repo = RepoSettings.from_yaml("exclude: {a: 1}\nrouting:\n  frontier_paths: [1, 2]\n")
    assert repo.exclude == ()
    assert repo.frontier_paths == ()
    assert len(repo.problems) == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("routing: [\n", "not valid YAML at line"),
        ("- a\n- b\n", "must be a mapping"),
        ("routing: 5\n", "`routing` must be a mapping"),
    ],
)
def test_a_broken_file_gives_defaults_and_one_clear_problem(text: str, problem: str) -> None:
    repo = RepoSettings.from_yaml(text)
    assert repo.threshold == DEFAULT_THRESHOLD
    assert any(problem in p for p in repo.problems)


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        ("auth/login.py", ("auth/**",), True),
        ("src/auth/login.py", ("auth/**",), False),
        ("src/auth/login.py", ("**/auth/**",), True),
        ("db/schema.sql", ("*.sql",), True),
        ("deep/er/x.sql", ("*.sql",), True),
        ("docs/a/b.md", ("docs/",), True),
        ("docsx/a.md", ("docs/",), False),
        ("app/x.py", ("app/*.py",), True),
        ("app/sub/x.py", ("app/*.py",), False),
        ("a.py", ("?.py",), True),
        ("a.py", (), False),
        ("weird[1].py", ("weird[1].py",), True),
    ],
)
def test_path_patterns(path: str, patterns: tuple[str, ...], expected: bool) -> None:
    """`*` stays in a folder, `**` crosses them, a bare name matches anywhere, `dir/` all under."""
    assert path_matches(path, patterns) is expected


def test_review_settings_are_read() -> None:
    """Instructions, the comment cap and per-path instructions (one pattern or a list) are read."""
    repo = RepoSettings.from_yaml(
        """
review:
  instructions: Prefer early returns.
  max_comments: 5
  path_instructions:
    - path: "migrations/**"
      instructions: Check that the migration is reversible.
    - path: ["*.sql", "db/"]
      instructions: Look for missing indexes.
"""
    )
    assert repo.problems == ()
    assert repo.instructions == "Prefer early returns."
    assert repo.max_comments == 5
    assert [r.patterns for r in repo.path_instructions] == [("migrations/**",), ("*.sql", "db/")]
    assert repo.instructions_for(("db/q.sql",)) == [
        "For files matching *.sql, db/: Look for missing indexes."
    ]


def test_bad_review_settings_are_reported() -> None:
    repo = RepoSettings.from_yaml(
        """
review:
  instructions: [1, 2]
  max_comments: 1000
  path_instructions:
    - path: "a/"
    - "not a mapping"
  tone: friendly
"""
    )
    assert repo.instructions == ""
    assert repo.max_comments == 15
    assert repo.path_instructions == ()
    assert len(repo.problems) == 5
    assert "unknown key `review.tone` ignored" in repo.problems


def test_escalation_thresholds_are_settings_with_defaults() -> None:
    from bot.core.confidence import Thresholds

    assert RepoSettings().escalation == Thresholds()
    repo = RepoSettings.from_yaml("escalation:\n  mean_entropy: 0.6\n  max_hedges: 0\n")
    assert repo.escalation.mean_entropy == 0.6
    assert repo.escalation.max_hedges == 0
    assert repo.escalation.quantile_entropy == Thresholds().quantile_entropy
    bad = RepoSettings.from_yaml("escalation:\n  mean_entropy: lots\n  max_unanchored_share: 2\n")
    assert bad.escalation == Thresholds()
    assert len(bad.problems) == 2


def test_secrets_are_redacted_for_the_local_model_unless_the_repo_turns_it_off() -> None:
    assert RepoSettings().redact_local is True
    assert RepoSettings.from_yaml("privacy: {redact_local: true}").redact_local is True
    off = RepoSettings.from_yaml("privacy:\n  redact_local: false\n")
    assert off.redact_local is False
    assert off.problems == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("privacy: {redact_local: 'no'}", "`privacy.redact_local` must be true or false"),
        ("privacy: {redact_local: 0}", "`privacy.redact_local` must be true or false"),
        ("privacy: {redact_frontier: false}", "unknown key `privacy.redact_frontier` ignored"),
        ("privacy: off", "`privacy` must be a mapping; ignored"),
    ],
)
def test_a_bad_privacy_setting_keeps_redaction_on_and_says_so(text: str, problem: str) -> None:
    repo = RepoSettings.from_yaml(text)
    assert repo.redact_local is True
    assert any(p.startswith(problem) for p in repo.problems), repo.problems
