"""A diff read, filtered and routed: parse → exclude → score → decide, and what a review of it
would cost on each tier. The one place for these steps, used by every face (the App's worker,
the Action, `tierbot review` and `tierbot score`); pure apart from reading the settings given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.complexity import Complexity, score
from bot.config import RepoSettings, Settings
from bot.cost import DEFAULT_GPU_HOUR_USD, CostEstimate, PriceTable
from bot.diff import ChangeSet, DiffError, parse
from bot.models.anthropic import DEFAULT_CONTEXT_TOKENS
from bot.review.prompt import Plan, plan_review
from bot.review.render import Estimates
from bot.reviewer import budget_for
from bot.routing import Decision, Models, Task, Tier, decide, without_excluded

FRONTIER_CONTEXT_TOKENS = DEFAULT_CONTEXT_TOKENS
"""The frontier model's context window, as the frontier backend is built with it."""


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
    """Why a diff leaves nothing to work on: it cannot be parsed (`changes` None), or every
    file is excluded by the settings."""

    problem: str
    changes: ChangeSet | None = None
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Budgeted:
    """The month's frontier budget left for the work (None: no budget applies) and its
    figures in words, for the decision's reasons."""

    left_usd: Decimal | None = None
    note: str = ""


def read_change(diff: bytes, repo: RepoSettings) -> Change | Unreadable:
    """The parsed diff without the files the settings exclude, or why nothing is left."""
    try:
        changes = parse(diff)
    except DiffError as exc:
        return Unreadable(f"the diff could not be read ({exc})")
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
) -> tuple[Complexity, Decision]:
    """The change's complexity and the tier it goes to, among `models`, within `budget`."""
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
        frontier_estimate_usd=frontier_estimate_usd if budget.left_usd is not None else None,
        budget_note=budget.note,
    )
    return complexity, decision


def window(tier: Tier, settings: Settings) -> int:
    """The context window of `tier`'s model, in tokens."""
    return settings.local_context_tokens if tier is Tier.LOCAL else FRONTIER_CONTEXT_TOKENS


def gpu_hour(settings: Settings) -> Decimal:
    """What an hour of the local GPU costs: the operator's figure, else the default."""
    return settings.gpu_hour_usd if settings.gpu_hour_usd is not None else DEFAULT_GPU_HOUR_USD


def plans(change: Change, repo: RepoSettings, context: str, settings: Settings) -> dict[Tier, Plan]:
    """The prompts a review would send on each tier (the same the reviewer builds)."""
    return {
        tier: plan_review(
            change.kept, budget_for(tier, window(tier, settings), repo, change.paths), repo, context
        )
        for tier in Tier
    }


def estimates(planned: Mapping[Tier, Plan], settings: Settings, prices: PriceTable) -> Estimates:
    """What a review would cost on each tier before it runs (estimated prompt tokens, the
    assumed output)."""
    tokens = {tier: plan.prompt_tokens for tier, plan in planned.items()}
    price = prices.require(settings.frontier_model)
    hour = gpu_hour(settings)
    return Estimates(
        local=CostEstimate.for_review(tokens[Tier.LOCAL], price, gpu_hour_usd=hour),
        frontier=CostEstimate.for_review(tokens[Tier.FRONTIER], price, gpu_hour_usd=hour),
        local_prompt_tokens=tokens[Tier.LOCAL],
        frontier_prompt_tokens=tokens[Tier.FRONTIER],
    )


def pull_context(title: str, body: str) -> str:
    """The pull request's text as every face gives it to the model: its title, then its body."""
    return f"{title}\n\n{body}".strip()


def models_for(
    settings: Settings,
    *,
    local_unavailable: str | None = None,
    frontier_unavailable: str | None = None,
) -> Models:
    """The models routing sees for these settings, with the reason each cannot run (None: it
    can). The one place a `Models` is built from settings."""
    return Models(
        local=settings.local_model,
        frontier=settings.frontier_model,
        local_window=settings.local_context_tokens,
        local_unavailable=local_unavailable,
        frontier_unavailable=frontier_unavailable,
    )
