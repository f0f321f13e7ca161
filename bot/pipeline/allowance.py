"""Who pays and what they may use, and the decision within it: the untrusted policy
(bot.core.trust), the month's frontier budgets (bot.adapters.budget), the backends and models the
work may
use, and the budgeted decision with each tier's prompts and estimated cost. `prepare` decides a
pull request's change here; `tierbot review --diff` a diff file's, with no pull request and so
no budget."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from bot.adapters.budget import BudgetedBackend, Limit
from bot.adapters.github import PullRef
from bot.core.cost import format_usd
from bot.core.prompt import Plan
from bot.core.render import Estimates
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Decision, Models, Task, Tier
from bot.core.trust import Untrusted, may_write, trusted_association
from bot.core.types import Backend
from bot.pipeline.change import Budgeted, Change
from bot.pipeline.change import route as route_change
from bot.pipeline.estimate import estimates, plans
from bot.pipeline.request import Request
from bot.pipeline.services import GitHubClient, Services

UNTRUSTED_FRONTIER = "work for accounts without write access is not sent to the frontier model"
UNCOUNTED_BUDGET = (
    "a monthly frontier budget is set but there is no ledger to count it in (TIERBOT_DATABASE_URL)"
)
FORK_NOT_SELF_HOSTED = "a pull request from a fork never runs on a self-hosted runner"


@dataclass(frozen=True, slots=True)
class Where:
    """The pull request whose budgets apply: its repository (owner/name), number and the
    App installation it came through (None: the Action or the CLI)."""

    repo: str
    number: int
    installation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Decided:
    """A change decided: the backends and models the payer may use, the decision, each tier's
    prompts and estimated cost, and the month's frontier budget left."""

    backends: Mapping[Tier, Backend]
    models: Models
    decision: Decision
    plans: Mapping[Tier, Plan]
    estimates: Estimates
    budget: Budgeted

    def nothing_to_review(self) -> str | None:
        """Why a review on the decided tier would send the model nothing (every file deleted,
        generated, binary or without hunks: a deletion-only change), or None."""
        plan = self.plans[self.decision.tier]
        if plan.parts:
            return None
        skipped = "; ".join(f"{c.path} ({c.reason})" for c in plan.coverage if c.reason)
        return f"no changed file has lines a model could review ({skipped})"


async def decide_change(
    change: Change,
    repo: RepoSettings,
    context: str,
    services: Services,
    *,
    task: Task = Task.REVIEW,
    override: Tier | None = None,
    fork: bool = False,
    policy: Untrusted | None = None,
    where: Where | None = None,
) -> Decided:
    """The decision on `change` for `task` (`override`: a forced tier), among what `policy`,
    `fork` and the budgets of `where` (None: no pull request, no budget) allow; `context` is
    the pull request's text, part of every prompt."""
    limits = _limits(services, repo, where) if where is not None else []
    backends, models = _allowed(services, policy, limits, where, fork)
    planned = plans(change, repo, context, services.settings)
    estimated = estimates(planned, services.settings, services.prices)
    budget = await _budget_left(services, limits)
    _, decision = route_change(
        change,
        repo,
        models,
        task=task,
        override=override,
        budget=budget,
        frontier_estimate_usd=estimated.frontier.frontier_usd,
        local_estimate_usd=estimated.local.local_usd,
    )
    return Decided(backends, models, decision, planned, estimated, budget)


def decide_among(
    decided: Decided,
    change: Change,
    repo: RepoSettings,
    request: Request,
    policy: Untrusted | None,
    models: Models,
) -> Decision:
    """The decision `decide_change` would have made among other `models` (the Action's route
    step assumes both tiers, each on its own runner), with the same restrictions, on the same
    change and budget: nothing is read again."""
    uncounted = decided.models.frontier_unavailable == UNCOUNTED_BUDGET
    allowed = restrict(models, policy, fork=request.fork, uncounted=uncounted)
    _, decision = route_change(
        change,
        repo,
        allowed,
        task=request.task,
        override=request.override,
        budget=decided.budget,
        frontier_estimate_usd=decided.estimates.frontier.frontier_usd,
        local_estimate_usd=decided.estimates.local.local_usd,
    )
    return decision


async def untrusted_policy(
    github: GitHubClient,
    ref: PullRef,
    repo: RepoSettings,
    ceiling: Untrusted,
    people: Sequence[tuple[str, str | None]],
) -> Untrusted | None:
    """What the work gets when none of `people` (login, author association) has write access:
    the repo's `review.untrusted_authors`, at most the operator's `ceiling`; None when one of
    them has it, or when the policy is `auto` (no one is asked then)."""
    policy = repo.untrusted_authors.at_most(ceiling)
    if policy is Untrusted.AUTO:
        return None
    # Those whose association already says so first: they need no call to GitHub.
    for login, association in sorted(people, key=lambda p: not trusted_association(p[1])):
        if await may_write(github, ref.owner, ref.repo, login, association):
            return None
    return policy


def _limits(services: Services, repo: RepoSettings, where: Where) -> list[Limit]:
    """The monthly frontier budgets that apply: the operator's, for the installation (or, with
    no installation, as in the Action, for the repo), and the repo's own."""
    limits: list[Limit] = []
    budget = services.settings.frontier_budget_usd
    if budget is not None and where.installation_id is not None:
        limits.append(Limit(budget, "this installation", installation_id=where.installation_id))
    elif budget is not None:
        limits.append(Limit(budget, "this repository's workflows", repo=where.repo))
    if repo.frontier_budget_usd is not None:
        limits.append(Limit(repo.frontier_budget_usd, "this repo", repo=where.repo))
    return limits


async def _budget_left(services: Services, limits: Sequence[Limit]) -> Budgeted:
    """The smallest frontier budget left this month (spent and held counted), and its figures
    in words."""
    ledger = services.ledger
    if ledger is None or not limits:
        return Budgeted()
    since = month_start(datetime.now(UTC))
    figures: list[tuple[Limit, Decimal]] = []
    for limit in limits:
        charged = await asyncio.to_thread(
            ledger.frontier_charged,
            since=since,
            repo=limit.repo,
            installation_id=limit.installation_id,
        )
        figures.append((limit, charged))
    limit, charged = min(figures, key=lambda item: item[0].usd - item[1])
    note = f"{format_usd(charged)} of {format_usd(limit.usd)} spent by {limit.who}"
    return Budgeted(limit.usd - charged, note)


def _allowed(
    services: Services,
    policy: Untrusted | None,
    limits: Sequence[Limit],
    where: Where | None,
    fork: bool,
) -> tuple[Mapping[Tier, Backend], Models]:
    """The backends and models a job may use. Untrusted work (a `policy`) gets the local model
    alone: no frontier backend at all, so nothing can escalate to it. Other work gets the
    frontier backend behind the month's budgets (bot.adapters.budget), when any applies; a budget
    with
    no ledger to count it in (the Action without TIERBOT_DATABASE_URL) allows no frontier work.
    A fork's pull request gets no local model: its runner would be self-hosted."""
    uncounted = bool(limits) and services.ledger is None
    models = restrict(services.models, policy, fork=fork, uncounted=uncounted)
    backends = dict(services.backends)
    if fork:
        backends.pop(Tier.LOCAL, None)
    if policy is not None or uncounted:
        backends.pop(Tier.FRONTIER, None)
    frontier = backends.get(Tier.FRONTIER)
    if services.ledger is None or frontier is None or not limits or where is None:
        return backends, models
    purse = services.ledger.purse(
        limits, repo=where.repo, number=where.number, installation_id=where.installation_id
    )
    services.prices.require(frontier.model)  # an unknown model is an error now, not mid-review
    budgeted = BudgetedBackend(frontier, purse, services.prices)
    return {**backends, Tier.FRONTIER: budgeted}, models


def restrict(models: Models, policy: Untrusted | None, *, fork: bool, uncounted: bool) -> Models:
    """`models` as the work may use them: no local model for a fork's pull request (its runner
    would be self-hosted); no frontier model for untrusted work, or under a budget that no
    ledger counts."""
    if fork:
        models = replace(models, local_unavailable=FORK_NOT_SELF_HOSTED)
    if policy is not None:
        return replace(models, frontier_unavailable=UNTRUSTED_FRONTIER)
    if uncounted:
        return replace(models, frontier_unavailable=UNCOUNTED_BUDGET)
    return models


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s calendar month, in UTC."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
