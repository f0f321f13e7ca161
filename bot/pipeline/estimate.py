"""What a review would cost on each tier before it runs, from the prompts the reviewer would
build: the context windows, the price of a busy GPU-hour, the local throughput, each tier's plan
and its estimate. The one place for these figures, used by `prepare` (the budget's check, the
cost-aware routing rule and every face's estimates)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from bot.adapters.models.anthropic import DEFAULT_CONTEXT_TOKENS
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.cost import CostEstimate
from bot.core.prompt import Plan, plan_review
from bot.core.render import Estimates
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Tier
from bot.pipeline.change import Change
from bot.pipeline.review import budget_for

FRONTIER_CONTEXT_TOKENS = DEFAULT_CONTEXT_TOKENS
"""The frontier model's context window, as the frontier backend is built with it."""


def window(tier: Tier, settings: Settings) -> int:
    """The context window of `tier`'s model, in tokens."""
    return settings.local_context_tokens if tier is Tier.LOCAL else FRONTIER_CONTEXT_TOKENS


def gpu_hour(settings: Settings) -> Decimal:
    """What a busy hour of the local GPU costs, its share of the idle hours included (the
    operator's GPU settings, bot.core.economics)."""
    return settings.gpu_cost.busy_hour_usd


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
    hour, speed = gpu_hour(settings), settings.throughput
    return Estimates(
        local=CostEstimate.for_review(
            tokens[Tier.LOCAL], price, throughput=speed, gpu_hour_usd=hour
        ),
        frontier=CostEstimate.for_review(
            tokens[Tier.FRONTIER], price, throughput=speed, gpu_hour_usd=hour
        ),
        local_prompt_tokens=tokens[Tier.LOCAL],
        frontier_prompt_tokens=tokens[Tier.FRONTIER],
    )
