"""The shadow review of a change the local model reviewed: the frontier model reviews it too,
nothing of it is posted, and its comments are matched against the local review's
(bot.core.matching), so the ledger can say what the local model misses (`tierbot calibrate`).

Which changes (bot.core.shadow.chosen): the repo's `shadow.share` of the commits whose review
the local model did and that stood (not escalated, not failed), on a review that is posted and
recorded (not a dry run, and with a ledger); not one the local model was unsure of, whether or
not the frontier model could redo it. Only within what the payer may spend: untrusted
work has no frontier backend, and under a monthly budget the shadow runs only when the budget
left covers its estimate, its requests held against the budget like any other
(bot.adapters.budget), so a shadow never takes the budget past its limit.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bot.core.cost import Spend, frontier_cost
from bot.core.matching import Matched, match_comments
from bot.core.result import ReviewResult
from bot.core.routing import Task, Tier
from bot.core.shadow import Shadow, ShadowState, chosen
from bot.pipeline.prepare import Prepared
from bot.pipeline.review import review_change
from bot.pipeline.services import Services


def wanted(prepared: Prepared, result: ReviewResult, services: Services) -> bool:
    """Whether this review gets a shadow review (module docstring)."""
    request, decision = prepared.request, prepared.decision
    if request.dry_run or services.ledger is None or request.task is not Task.REVIEW:
        return False
    if decision.tier is not Tier.LOCAL or result.tier is not Tier.LOCAL or result.failed:
        return False
    if result.escalation or len(result.attempts) != 1 or not result.attempts[0].parts:
        return False  # the local model was unsure: escalated, or would have been
    ref = request.ref
    if not chosen(
        f"{ref.owner}/{ref.repo}", ref.number, prepared.pull.head_sha, prepared.repo.shadow_share
    ):
        return False
    frontier = prepared.backends.get(Tier.FRONTIER)
    if frontier is None or frontier.unavailable_reason() is not None:
        return False
    left = prepared.decided.budget.left_usd
    return left is None or prepared.estimates.frontier.frontier_usd <= left


async def shadow_review(
    prepared: Prepared, result: ReviewResult, services: Services
) -> Shadow | None:
    """The frontier model's review of what the local model reviewed, matched against it; None
    when this review gets no shadow (see `wanted`). Nothing is posted."""
    if not wanted(prepared, result, services):
        return None
    frontier = prepared.backends[Tier.FRONTIER]
    decision = replace(prepared.decision, tier=Tier.FRONTIER, model=frontier.model)
    shadow = await review_change(
        prepared.change.kept,
        decision,
        {Tier.FRONTIER: frontier},
        prepared.repo,
        context=prepared.context,
    )
    attempt = shadow.attempts[0] if shadow.attempts else None  # None: refused before sending
    price = services.prices.require(frontier.model)
    usd = frontier_cost(attempt.usage, price) if attempt is not None else Decimal(0)
    # A failed shadow found nothing to match: its local side alone would read as local-only finds.
    matched = Matched(()) if shadow.failed else match_comments(result.comments, shadow.comments)
    if shadow.failed:
        state, why = ShadowState.FAILED, shadow.failed
    elif attempt is not None and (attempt.errors or shadow.problems):
        state = ShadowState.PARTIAL
        why = "; ".join((*attempt.errors, *shadow.problems)[:3])
    else:
        state, why = ShadowState.DONE, None
    return Shadow(state, frontier.model, result.attempts[0], attempt, usd, matched, why)


def shadow_spend(shadow: Shadow) -> Spend:
    """What the shadow review cost, as a charge of its own: all frontier, and no baseline, as an
    all-frontier review would not have made it."""
    return Spend(
        spent_usd=shadow.usd,
        baseline_usd=Decimal(0),
        baseline_estimated=False,
        frontier_usd=shadow.usd,
        local_usd=Decimal(0),
    )
