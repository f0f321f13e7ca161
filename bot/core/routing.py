"""Which tier reviews a change, and why: a pure decision over the score and the circumstances.

The rules, in the order they apply:
1. an explicit override from a command (`/review --local`, `--frontier`) wins, or fails visibly;
2. repo settings that force paths to a tier (any frontier path wins over local paths);
3. the task type: `ask` and `describe` go local unless the change is too big for its window;
4. a `review` goes frontier when its score reaches the threshold or it does not fit the local
   window, local otherwise;
4b. cost: a `review` that rule 4 sends local goes frontier when the local GPU would cost more
   for it than the frontier model would (each tier's estimate for this change);
5. the frontier budget: when the month's budget is spent, frontier work goes local;
6. availability: without a local model, local work goes frontier, and without a frontier
   model (no key), frontier work goes local.
A decision that cannot be carried out (an override that cannot be honoured, neither tier usable)
carries an `error` instead of silently doing something else.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum

from bot.core.complexity import Complexity
from bot.core.cost import format_usd
from bot.core.diff import ChangeSet
from bot.core.patterns import path_matches
from bot.core.repo_settings import RepoSettings


class Tier(StrEnum):
    """Which model reviews: the small local model on the GPU, or the frontier model."""

    LOCAL = "local"
    FRONTIER = "frontier"


class Task(StrEnum):
    """What the model is asked to do: review a change, describe it, or answer a question."""

    REVIEW = "review"
    DESCRIBE = "describe"
    ASK = "ask"


@dataclass(frozen=True, slots=True)
class Models:
    """The models each tier would use, and whether the local one can run here."""

    local: str
    frontier: str
    local_window: int
    local_unavailable: str | None = None
    frontier_unavailable: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The routing decision for one task: the tier and model, the complexity score it rests on,
    and every reason; `error` says why no model can do it (nothing should run then)."""

    tier: Tier
    model: str
    score: int
    task: Task
    reasons: tuple[str, ...]
    error: str | None = None


def decide(
    complexity: Complexity,
    models: Models,
    *,
    task: Task = Task.REVIEW,
    repo: RepoSettings | None = None,
    paths: tuple[str, ...] = (),
    override: Tier | None = None,
    frontier_budget_left_usd: Decimal | None = None,
    frontier_estimate_usd: Decimal | None = None,
    local_estimate_usd: Decimal | None = None,
    budget_note: str = "",
) -> Decision:
    """Decide the tier for `task` on a change with this complexity; `paths` are its files.
    `local_estimate_usd` and `frontier_estimate_usd` are what the review would cost on each tier
    (bot.core.cost.CostEstimate); without both, cost plays no part but for the budget."""
    repo = repo or RepoSettings()
    tokens = complexity.context_tokens
    fits_local = tokens <= models.local_window
    size = f"needs ~{tokens:,} tokens of context"
    window = f"the local model's {models.local_window:,}-token window"
    # Spent, or too little left for this review's estimate: the budget is never overrun by
    # more than one request.
    budget_spent = frontier_budget_left_usd is not None and (
        frontier_budget_left_usd <= 0
        or (frontier_estimate_usd is not None and frontier_estimate_usd > frontier_budget_left_usd)
    )
    spent_words = "the month's frontier budget is spent" + (
        f" ({budget_note})" if budget_note else ""
    )

    if override is not None:
        return _overridden(complexity, models, task, override, budget_spent, spent_words)

    tier, why = _preferred(complexity, models, task, repo, paths, fits_local, size, window)
    reasons = [why]
    dearer = _dearer_locally(local_estimate_usd, frontier_estimate_usd)
    if (
        task is Task.REVIEW
        and tier is Tier.LOCAL
        and dearer is not None
        and not _all_local(paths, repo)
    ):
        tier = Tier.FRONTIER
        reasons.append(dearer)
    if models.frontier_unavailable is not None and models.local_unavailable is not None:
        return _decision(
            complexity,
            models,
            task,
            tier,
            reasons,
            error=f"no model is available: local ({models.local_unavailable}), "
            f"frontier ({models.frontier_unavailable})",
        )
    if tier is Tier.FRONTIER and models.frontier_unavailable is not None:
        tier = Tier.LOCAL
        reasons.append(
            f"no frontier model is available ({models.frontier_unavailable}): using the local one"
        )
    elif tier is Tier.FRONTIER and budget_spent:
        if models.local_unavailable is not None:
            return _decision(
                complexity,
                models,
                task,
                tier,
                reasons,
                error=f"{spent_words} and no local model is available ({models.local_unavailable})",
            )
        tier = Tier.LOCAL
        reasons.append(f"{spent_words}: using the local model instead")
        if not fits_local:
            reasons.append(f"the change {size}, more than {window}: it will be reviewed in parts")
    elif tier is Tier.LOCAL and models.local_unavailable is not None:
        if budget_spent:
            return _decision(
                complexity,
                models,
                task,
                tier,
                reasons,
                error=f"no local model is available ({models.local_unavailable}) and {spent_words}",
            )
        tier = Tier.FRONTIER
        reasons.append(f"no local model is available ({models.local_unavailable}): using frontier")
    return _decision(complexity, models, task, tier, reasons)


def _preferred(
    complexity: Complexity,
    models: Models,
    task: Task,
    repo: RepoSettings,
    paths: tuple[str, ...],
    fits_local: bool,
    size: str,
    window: str,
) -> tuple[Tier, str]:
    forced_frontier = [p for p in paths if path_matches(p, repo.frontier_paths)]
    if forced_frontier:
        return Tier.FRONTIER, f"repo settings send {_listed(forced_frontier)} to the frontier model"
    if _all_local(paths, repo):
        return Tier.LOCAL, "repo settings send every changed path to the local model"
    if task is not Task.REVIEW:
        if fits_local:
            return Tier.LOCAL, f"`{task}` goes to the local model: the change fits {window}"
        return Tier.FRONTIER, f"`{task}`: the change {size}, more than {window}"
    if complexity.score >= repo.threshold:
        return Tier.FRONTIER, (
            f"complexity {complexity.score} is at or above the threshold {repo.threshold}"
        )
    if not fits_local:
        return Tier.FRONTIER, f"the change {size}, more than {window}"
    return Tier.LOCAL, f"complexity {complexity.score} is below the threshold {repo.threshold}"


def _all_local(paths: tuple[str, ...], repo: RepoSettings) -> bool:
    """Whether the repo settings send every changed path to the local model."""
    return bool(paths) and all(path_matches(p, repo.local_paths) for p in paths)


def _dearer_locally(local_usd: Decimal | None, frontier_usd: Decimal | None) -> str | None:
    """The cost rule: why the local tier is the dearer one for this change (its GPU time, idle
    share included, would cost more than the frontier model's estimate), or None."""
    if local_usd is None or frontier_usd is None or local_usd <= frontier_usd:
        return None
    return (
        f"the local GPU would cost ~{format_usd(local_usd)} for this review, more than the "
        f"frontier model's ~{format_usd(frontier_usd)}: using the frontier model"
    )


def _overridden(
    complexity: Complexity,
    models: Models,
    task: Task,
    override: Tier,
    budget_spent: bool,
    spent_words: str,
) -> Decision:
    reasons = [f"asked for the {override} model by command"]
    error = None
    if override is Tier.LOCAL and models.local_unavailable is not None:
        error = f"the local model was asked for but is not available ({models.local_unavailable})"
    elif override is Tier.FRONTIER and models.frontier_unavailable is not None:
        error = (
            f"the frontier model was asked for but is not available ({models.frontier_unavailable})"
        )
    elif override is Tier.FRONTIER and budget_spent:
        error = f"the frontier model was asked for but {spent_words}"
    return _decision(complexity, models, task, override, reasons, error=error)


def _decision(
    complexity: Complexity,
    models: Models,
    task: Task,
    tier: Tier,
    reasons: list[str],
    error: str | None = None,
) -> Decision:
    return Decision(
        tier=tier,
        model=models.local if tier is Tier.LOCAL else models.frontier,
        score=complexity.score,
        task=task,
        reasons=(*reasons, *complexity.reasons),
        error=error,
    )


def _listed(paths: list[str]) -> str:
    shown = ", ".join(paths[:3])
    return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")


def without_excluded(changes: ChangeSet, repo: RepoSettings) -> tuple[ChangeSet | None, list[str]]:
    """The change without the files the repo settings exclude, and the excluded paths.

    Returns None for the change when every file is excluded: there is nothing to review.
    """
    if not repo.exclude:
        return changes, []
    kept = tuple(f for f in changes.files if not path_matches(f.path, repo.exclude))
    excluded = [f.path for f in changes.files if path_matches(f.path, repo.exclude)]
    return (replace(changes, files=kept) if kept else None), excluded
