"""A diff read, filtered and routed: parse → exclude → score → decide. The one place for these
steps, used by every face (the App's worker, the Action, `tierbot review` and `tierbot score`);
pure. What a review would cost on each tier is in bot.pipeline.estimate (it loads the prompt
builder, which `tierbot score` does not need)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot.core.complexity import Complexity, score
from bot.core.diff import ChangeSet, DiffError, parse
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Decision, Models, Task, Tier, decide, without_excluded


@dataclass(frozen=True, slots=True)
class Change:
    """A diff as the pipeline works on it: everything it changes (`changes`), what is left
    after the repo settings' exclusions (`kept`), and the excluded paths."""

    changes: ChangeSet
    kept: ChangeSet
    excluded: tuple[str, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        """The kept files' paths."""
        return tuple(f.path for f in self.kept.files)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Why a diff leaves nothing to work on: it cannot be parsed (`changes` None; `error` is
    the parser's message), or every file is excluded by the settings."""

    problem: str
    changes: ChangeSet | None = None
    excluded: tuple[str, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class Budgeted:
    """The month's frontier budget left for the work (None: no budget applies) and its
    figures in words, for the decision's reasons."""

    left_usd: Decimal | None = None
    note: str = ""


def read_change(diff: bytes | str, repo: RepoSettings) -> Change | Unreadable:
    """The parsed diff without the files the settings exclude, or why nothing is left."""
    try:
        changes = parse(diff)
    except DiffError as exc:
        return Unreadable(f"the diff could not be read ({exc})", error=str(exc))
    kept, excluded = without_excluded(changes, repo)
    if kept is None:
        return Unreadable(
            "every changed file is excluded by the settings", changes, tuple(excluded)
        )
    return Change(changes, kept, tuple(excluded))


def route(
    change: Change,
    repo: RepoSettings,
    models: Models,
    *,
    task: Task = Task.REVIEW,
    override: Tier | None = None,
    budget: Budgeted | None = None,
    frontier_estimate_usd: Decimal | None = None,
    local_estimate_usd: Decimal | None = None,
) -> tuple[Complexity, Decision]:
    """The change's complexity and the tier it goes to, among `models`, within `budget`; with
    each tier's estimate, a review the local GPU would cost more for goes frontier."""
    complexity = score(change.kept)
    budget = budget or Budgeted()
    decision = decide(
        complexity,
        models,
        task=task,
        repo=repo,
        paths=change.paths,
        override=override,
        frontier_budget_left_usd=budget.left_usd,
        frontier_estimate_usd=frontier_estimate_usd,
        local_estimate_usd=local_estimate_usd,
        budget_note=budget.note,
    )
    return complexity, decision


def pull_context(title: str, body: str) -> str:
    """The pull request's text as every face gives it to the model: its title, then its body."""
    return f"{title}\n\n{body}".strip()
