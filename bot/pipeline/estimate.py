"""What a review would cost on each tier before it runs, from the prompts the reviewer would
build: the context windows, the GPU-hour price, each tier's plan and its estimate. The one
place for these figures, used by `prepare` (the budget's check and every face's estimates)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from bot.adapters.models.anthropic import DEFAULT_CONTEXT_TOKENS
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.cost import DEFAULT_GPU_HOUR_USD, CostEstimate
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
