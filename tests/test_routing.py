"""Routing: one test per rule, in the order the rules apply."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.core.complexity import Complexity
from bot.core.diff import parse
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Decision, Models, Task, Tier, decide, without_excluded
from tests.builders import Edit, git_diff

MODELS = Models(local="qwen-coder-14b-exl2", frontier="claude-sonnet-5-5", local_window=8192)
NO_LOCAL = Models(
    local="qwen-coder-14b-exl2",
    frontier="claude-sonnet-5-5",
    local_window=8192,
    local_unavailable="no CUDA GPU",
)


def complexity(score: int, tokens: int = 2000) -> Complexity:
    return Complexity(score=score, features={"context_tokens": tokens}, reasons=("why",))


def test_review_below_the_threshold_goes_local_with_the_local_model() -> None:
    decision = decide(complexity(20), MODELS)
    assert decision.tier is Tier.LOCAL
    assert decision.model == "qwen-coder-14b-exl2"
    assert decision.reasons[0] == "complexity 20 is below the threshold 45"
    assert decision.reasons[-1] == "why"
    assert decision.error is None


def test_review_at_the_threshold_goes_frontier() -> None:
    decision = decide(complexity(45), MODELS)
    assert decision.tier is Tier.FRONTIER
    assert decision.model == "claude-sonnet-5-5"
    assert "at or above the threshold 45" in decision.reasons[0]


def test_repo_settings_move_the_threshold() -> None:
    repo = RepoSettings(threshold=70)
    assert decide(complexity(60), MODELS, repo=repo).tier is Tier.LOCAL
    assert decide(complexity(70), MODELS, repo=repo).tier is Tier.FRONTIER


def test_a_simple_review_too_big_for_the_local_window_goes_frontier() -> None:
    decision = decide(complexity(10, tokens=20_000), MODELS)
    assert decision.tier is Tier.FRONTIER
    assert "more than the local model's 8,192-token window" in decision.reasons[0]


@pytest.mark.parametrize("task", [Task.ASK, Task.DESCRIBE])
def test_ask_and_describe_go_local_even_when_complex(task: Task) -> None:
    decision = decide(complexity(95), MODELS, task=task)
    assert decision.tier is Tier.LOCAL
    assert decision.task is task


@pytest.mark.parametrize("task", [Task.ASK, Task.DESCRIBE])
def test_ask_and_describe_go_frontier_when_too_big_for_the_window(task: Task) -> None:
    assert decide(complexity(5, tokens=9000), MODELS, task=task).tier is Tier.FRONTIER


def test_frontier_paths_force_frontier_whatever_the_score() -> None:
    repo = RepoSettings(frontier_paths=("auth/**",))
    decision = decide(complexity(3), MODELS, repo=repo, paths=("auth/login.py", "README.md"))
    assert decision.tier is Tier.FRONTIER
    assert decision.reasons[0] == "repo settings send auth/login.py to the frontier model"


def test_local_paths_force_local_only_when_every_path_matches() -> None:
    repo = RepoSettings(local_paths=("docs/", "*.md"))
    assert (
        decide(complexity(90), MODELS, repo=repo, paths=("docs/a.rst", "x.md")).tier is Tier.LOCAL
    )
    assert decide(complexity(90), MODELS, repo=repo, paths=("docs/a.rst", "x.py")).tier is (
        Tier.FRONTIER
    )


def test_frontier_paths_win_over_local_paths() -> None:
    repo = RepoSettings(frontier_paths=("*.sql",), local_paths=("db/",))
    assert decide(complexity(1), MODELS, repo=repo, paths=("db/schema.sql",)).tier is Tier.FRONTIER


def test_override_wins_over_every_rule() -> None:
    repo = RepoSettings(frontier_paths=("**",))
    decision = decide(complexity(99), MODELS, repo=repo, paths=("a.py",), override=Tier.LOCAL)
    assert decision.tier is Tier.LOCAL
    assert decision.reasons[0] == "asked for the local model by command"
    assert decide(complexity(1), MODELS, override=Tier.FRONTIER).tier is Tier.FRONTIER


def test_an_override_that_cannot_be_honoured_is_an_error_not_a_silent_switch() -> None:
    local = decide(complexity(1), NO_LOCAL, override=Tier.LOCAL)
    assert local.tier is Tier.LOCAL
    assert local.error is not None
    assert "no CUDA GPU" in local.error
    frontier = decide(
        complexity(99), MODELS, override=Tier.FRONTIER, frontier_budget_left_usd=Decimal(0)
    )
    assert frontier.error is not None
    assert "budget is spent" in frontier.error


def test_a_spent_frontier_budget_sends_frontier_work_local() -> None:
    decision = decide(complexity(80), MODELS, frontier_budget_left_usd=Decimal("0"))
    assert decision.tier is Tier.LOCAL
    assert "frontier budget is spent" in decision.reasons[1]


def test_budget_left_keeps_frontier() -> None:
    """A complex change stays on the frontier tier while the month's budget has room."""
    decision = decide(complexity(80), MODELS, frontier_budget_left_usd=Decimal("12.50"))
    assert decision.tier is Tier.FRONTIER


def test_without_a_local_model_local_work_goes_frontier_and_says_why() -> None:
    decision = decide(complexity(10), NO_LOCAL)
    assert decision.tier is Tier.FRONTIER
    assert decision.model == "claude-sonnet-5-5"
    assert "no local model is available (no CUDA GPU)" in decision.reasons[1]


def test_neither_tier_usable_is_an_error() -> None:
    spent = Decimal("-0.01")
    assert decide(complexity(10), NO_LOCAL, frontier_budget_left_usd=spent).error is not None
    assert decide(complexity(90), NO_LOCAL, frontier_budget_left_usd=spent).error is not None


def test_excluded_paths_are_removed_before_scoring() -> None:
    changes = parse(
        git_diff(Edit("vendor/lib.js", added=["x"]), Edit("app/main.py", added=["y = 1"]))
    )
    kept, excluded = without_excluded(changes, RepoSettings(exclude=("vendor/",)))
    assert kept is not None
    assert [f.path for f in kept.files] == ["app/main.py"]
    assert excluded == ["vendor/lib.js"]


def test_a_change_with_every_file_excluded_has_nothing_to_review() -> None:
    changes = parse(git_diff(Edit("vendor/lib.js", added=["x"])))
    kept, excluded = without_excluded(changes, RepoSettings(exclude=("vendor/**",)))
    assert kept is None
    assert excluded == ["vendor/lib.js"]


NO_FRONTIER = Models(
    local="qwen-coder-14b-exl2",
    frontier="claude-sonnet-5-5",
    local_window=8192,
    frontier_unavailable="ANTHROPIC_API_KEY is not set",
)


def test_without_a_frontier_model_frontier_work_goes_local_and_says_why() -> None:
    decision = decide(complexity(90), NO_FRONTIER)
    assert decision.tier is Tier.LOCAL
    assert "no frontier model is available (ANTHROPIC_API_KEY is not set)" in decision.reasons[1]
    assert decision.error is None


def test_no_model_at_all_is_an_error_naming_both_reasons() -> None:
    models = Models(
        local="l",
        frontier="f",
        local_window=8192,
        local_unavailable="no CUDA GPU",
        frontier_unavailable="ANTHROPIC_API_KEY is not set",
    )
    for score in (5, 95):
        decision = decide(complexity(score), models)
        assert decision.error is not None
        assert "no CUDA GPU" in decision.error
        assert "ANTHROPIC_API_KEY" in decision.error


def test_asking_for_frontier_without_a_key_is_an_error() -> None:
    decision = decide(complexity(5), NO_FRONTIER, override=Tier.FRONTIER)
    assert decision.tier is Tier.FRONTIER
    assert decision.error is not None
    assert "ANTHROPIC_API_KEY" in decision.error


def test_too_little_budget_left_for_this_review_counts_as_spent() -> None:
    decision = decide(
        complexity(80),
        MODELS,
        frontier_budget_left_usd=Decimal("0.02"),
        frontier_estimate_usd=Decimal("0.05"),
        budget_note="$49.98 of $50.00 spent",
    )
    assert decision.tier is Tier.LOCAL
    assert "frontier budget is spent ($49.98 of $50.00 spent)" in decision.reasons[1]


def test_a_refused_frontier_override_gives_the_figures() -> None:
    decision = decide(
        complexity(10),
        MODELS,
        override=Tier.FRONTIER,
        frontier_budget_left_usd=Decimal(0),
        budget_note="$50.00 of $50.00 spent",
    )
    assert decision.error == (
        "the frontier model was asked for but the month's frontier budget is spent "
        "($50.00 of $50.00 spent)"
    )


# -- the cost rule --------------------------------------------------------------------------------


def dearer(models: Models = MODELS, **more: Any) -> Decision:
    """A simple review whose local estimate ($0.0300) is above the frontier's ($0.0255)."""
    return decide(
        complexity(20),
        models,
        local_estimate_usd=Decimal("0.0300"),
        frontier_estimate_usd=Decimal("0.0255"),
        **more,
    )


def test_a_review_the_local_gpu_would_cost_more_for_goes_frontier_and_says_why() -> None:
    decision = dearer()
    assert decision.tier is Tier.FRONTIER
    assert decision.model == "claude-sonnet-5-5"
    assert decision.reasons[:2] == (
        "complexity 20 is below the threshold 45",
        "the local GPU would cost ~$0.0300 for this review, more than the frontier model's "
        "~$0.0255: using the frontier model",
    )


def test_the_local_tier_keeps_a_review_it_is_cheaper_or_as_cheap_for() -> None:
    for local in ("0.0010", "0.0255"):
        decision = decide(
            complexity(20),
            MODELS,
            local_estimate_usd=Decimal(local),
            frontier_estimate_usd=Decimal("0.0255"),
        )
        assert decision.tier is Tier.LOCAL
        assert len(decision.reasons) == 2  # the threshold, and the complexity's own reason


def test_without_both_estimates_cost_plays_no_part() -> None:
    assert decide(complexity(20), MODELS, local_estimate_usd=Decimal(9)).tier is Tier.LOCAL
    assert decide(complexity(20), MODELS, frontier_estimate_usd=Decimal(0)).tier is Tier.LOCAL


def test_the_cost_rule_gives_way_to_commands_settings_and_other_tasks() -> None:
    forced = dearer(override=Tier.LOCAL)
    assert forced.tier is Tier.LOCAL
    settings = RepoSettings(local_paths=("docs/**",))
    local_paths = dearer(repo=settings, paths=("docs/a.md",))
    assert local_paths.tier is Tier.LOCAL
    for task in (Task.ASK, Task.DESCRIBE):
        assert dearer(task=task).tier is Tier.LOCAL


def test_a_dearer_local_review_stays_local_when_the_frontier_cannot_take_it() -> None:
    no_key = dearer(NO_FRONTIER)
    assert no_key.tier is Tier.LOCAL
    assert "more than the frontier model's" in no_key.reasons[1]
    assert "no frontier model is available" in no_key.reasons[2]
    spent = dearer(frontier_budget_left_usd=Decimal(0))
    assert spent.tier is Tier.LOCAL
    assert "frontier budget is spent" in spent.reasons[2]
