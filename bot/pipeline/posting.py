"""Review what `prepare` found and post it: one GitHub review with the new inline comments
(none repeated: each carries its signed fingerprint) and the summary comment, edited in place.

State lives on the pull request itself: the summary's signed header says which commit was last
reviewed and whether automatic reviews are paused (bot.core.markers). Text from the pull request
or a model is posted only as safe Markdown (bot.core.markdown.safe). A dry run posts nothing and
returns what it would have posted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog

from bot.adapters.github import GitHubError, PullRef
from bot.adapters.metrics import (
    BASELINE_DOLLARS,
    DOLLARS,
    MODEL_SECONDS,
    REVIEWS,
    TOKENS,
    Metrics,
)
from bot.core.anchor import Comment
from bot.core.cost import Spend, review_spend
from bot.core.counts import counted
from bot.core.markers import SUMMARY_MARKER, SummaryState
from bot.core.result import Attempt, ReviewResult
from bot.core.selection import Earlier, EarlierComment, HeldReason
from bot.core.shadow import Shadow
from bot.core.summary import render_summary
from bot.pipeline.estimate import gpu_hour
from bot.pipeline.feedback import record_feedback
from bot.pipeline.prepare import Prepared, prepare
from bot.pipeline.request import Outcome, Request, Status
from bot.pipeline.review import review_change
from bot.pipeline.services import FeedbackSource, GitHubClient, Retry, Services
from bot.pipeline.shadow import shadow_review, shadow_spend
from bot.pipeline.verify import verifier_for

log = structlog.get_logger("tierbot.pipeline")


async def review_pull(
    github: GitHubClient,
    request: Request,
    services: Services,
    prepared: Prepared | Outcome | None = None,
) -> Outcome:
    """Review the pull request's new commits (or all of it) and post the comments and summary;
    or post why it was not reviewed. `prepared` is what `prepare` already made of `request`
    (GitHub is then not read again). Raises Retry when every part of the review failed for a
    passing reason (a model overloaded, rate limited, timing out or unreachable)."""
    if prepared is None:
        prepared = await prepare(github, request, services)
    if isinstance(prepared, Outcome):
        if not request.dry_run:
            await post_outcome(github, request.ref, prepared)
        return prepared
    return await review_prepared(github, prepared, services)


async def post_outcome(github: GitHubClient, ref: PullRef, outcome: Outcome) -> None:
    """Post the summary and the reply an outcome that was not a review carries."""
    if outcome.summary is not None:
        await github.upsert_comment(ref, SUMMARY_MARKER, outcome.summary)
    if outcome.reply is not None:
        await github.reply(ref, outcome.reply)


def spend_of(
    attempts: Sequence[Attempt], services: Services, result: ReviewResult | None = None
) -> Spend:
    """What these requests cost, against the all-frontier baseline, with the checking of a
    review's comments (`result.verification`) on top."""
    check = result.verification.attempt if result and result.verification else None
    return review_spend(
        attempts,
        services.prices,
        services.models.frontier,
        gpu_hour(services.settings),
        verification=check,
    )


async def _earlier(
    github: GitHubClient, prepared: Prepared, services: Services
) -> tuple[set[str], Earlier]:
    """The fingerprints of the bot's inline comments already on the pull request, and those
    comments with whether a person answered or resolved each (none when the client cannot tell
    the bot's comments apart); the feedback on them is recorded in the ledger on the way."""
    ref = prepared.request.ref
    if github.bot_login is None:  # its earlier comments cannot be told apart: none are known
        return set(), Earlier()
    if not isinstance(github, FeedbackSource):
        return await github.review_comment_fingerprints(ref), Earlier()
    listed = await github.review_comment_feedback(ref)  # one listing for every use
    try:
        resolved = await github.resolved_fingerprints(ref) if listed else set()
    except GitHubError as exc:  # a by-product: it never stops a review
        log.warning("could not read resolved threads", pull=str(ref), error=str(exc))
        resolved = set()
    if services.ledger is not None:
        ledger, changes = services.ledger, prepared.change.changes
        repo, number = f"{ref.owner}/{ref.repo}", ref.number
        await asyncio.to_thread(
            lambda: record_feedback(ledger, repo, number, listed, changes, resolved)
        )
    earlier = Earlier(
        tuple(
            EarlierComment(
                c.fingerprint,
                c.path,
                c.body,
                settled=c.answered or c.fingerprint in resolved,
                line=c.line,
                side=c.side,
            )
            for c in listed
        )
    )
    return {c.fingerprint for c in listed}, earlier


async def review_prepared(github: GitHubClient, prepared: Prepared, services: Services) -> Outcome:
    """Review what `prepare` found and post it (nothing for a dry run); the outcome."""
    request, pull = prepared.request, prepared.pull
    ref = request.ref
    repo_name = f"{ref.owner}/{ref.repo}"
    seen, earlier = await _earlier(github, prepared, services)
    result = await review_change(
        prepared.change.kept,
        prepared.decision,
        prepared.backends,
        prepared.repo,
        context=prepared.context,
        verifier=verifier_for(prepared.backends, services.prices),
        earlier=earlier,
    )
    spend = spend_of(result.attempts, services, result) if result.all_attempts else None
    count(services.metrics, result, spend)
    if result.transient and not request.forced and not request.dry_run:
        await _post_secrets_now(github, prepared, result)
        raise Retry(result.failed or "the review failed")

    # The bot's own comments on committed secrets go out whether or not the model review did;
    # the model's were already held back when made before (bot.core.selection).
    candidates = [*result.secrets, *(() if result.failed else result.comments)]
    new = [c for c in candidates if c.fingerprint not in seen]
    rejected: list[str] = []
    posted: tuple[Comment, ...] = tuple(new)
    if new and not request.dry_run:
        review = await github.post_review(ref, pull.head_sha, _review_body(result, new), new)
        rejected = [f"{d.comment.path}:{d.comment.line}: {d.reason}" for d in review.dropped]
        posted = tuple(review.posted)
    # After the review is posted: nobody waits on a review that is never shown.
    shadow = await shadow_review(prepared, result, services)  # None unless this one is chosen
    if shadow is not None and shadow.frontier is not None and services.metrics is not None:
        count_requests(services.metrics, (shadow.frontier,), shadow_spend(shadow))
    month = None
    if services.ledger is not None:
        ledger = services.ledger
        review_id = await asyncio.to_thread(
            lambda: ledger.record_review(
                repo=repo_name,
                number=ref.number,
                head_sha=pull.head_sha,
                trigger=request.trigger,
                result=result,
                spend=spend,
                comments_posted=list(posted),
                installation_id=request.installation_id,
            )
        )
        if shadow is not None:
            await asyncio.to_thread(_record_shadow, services, review_id, prepared, shadow)
        month = await asyncio.to_thread(ledger.month_to_date, repo_name, datetime.now(UTC))
    body = render_summary(
        result,
        spend,
        head_sha=pull.head_sha,
        incremental_from=prepared.since,
        posted=len(new) - len(rejected),
        repeated=len(candidates) - len(new) + len(result.held_for(HeldReason.REPEAT)),
        rejected=rejected,
        settings_problems=prepared.repo.problems,
        min_severity=prepared.repo.min_severity,
        excluded=list(prepared.change.excluded),
        month=month,
        shadow=shadow,
    )
    state = SummaryState(pull.head_sha, prepared.summary.state.paused)
    summary = github.markers(ref).summary_body(body, state)
    if not request.dry_run:
        await github.upsert_comment(ref, SUMMARY_MARKER, summary, known=prepared.summary.found)
    if result.failed:
        status, reason = Status.FAILED, result.failed
    else:
        status = Status.REVIEWED
        reason = f"{counted(len(posted), 'comment')} ({request.trigger})"
    return prepared.outcome(
        status,
        reason,
        tier=result.tier,
        model=result.model,
        spend=spend,
        comments=posted,
        dropped=tuple(rejected),
        summary=summary,
        result=result,
    )


def _record_shadow(services: Services, review_id: int, prepared: Prepared, shadow: Shadow) -> None:
    """Record the shadow review beside the review it shadowed, its request as a charge of its own
    (task `shadow`, no baseline: an all-frontier review would not have made it)."""
    assert services.ledger is not None  # a shadow runs only where there is a ledger
    ref = prepared.request.ref
    services.ledger.record_shadow(
        review_id=review_id,
        repo=f"{ref.owner}/{ref.repo}",
        number=ref.number,
        installation_id=prepared.request.installation_id,
        shadow=shadow,
        spend=shadow_spend(shadow),
    )


def count(metrics: Metrics | None, result: ReviewResult, spend: Spend | None) -> None:
    """Reviews by tier, tokens by kind and dollars against the baseline, for /metrics."""
    if metrics is None:
        return
    if not result.failed:
        metrics.inc(REVIEWS, {"tier": result.tier.value})
    count_requests(metrics, result.attempts, spend)
    check = result.verification.attempt if result.verification is not None else None
    if check is not None:  # its tokens; its time is not a tier's time over a review
        _count_tokens(metrics, check)


def count_requests(metrics: Metrics, attempts: Sequence[Attempt], spend: Spend | None) -> None:
    """Tokens by tier and kind, each attempt's time, and dollars against the baseline, of any
    task's requests (a review's spend includes checking its comments)."""
    for attempt in attempts:
        metrics.observe(MODEL_SECONDS, {"tier": attempt.tier.value}, attempt.wall_seconds)
        _count_tokens(metrics, attempt)
    if spend is not None:
        frontier = spend.frontier_usd + spend.verify_frontier_usd
        metrics.inc(DOLLARS, {"tier": "frontier"}, float(frontier))
        metrics.inc(DOLLARS, {"tier": "local"}, float(spend.local_usd + spend.verify_local_usd))
        metrics.inc(BASELINE_DOLLARS, None, float(spend.baseline_usd))


def _count_tokens(metrics: Metrics, attempt: Attempt) -> None:
    usage = attempt.usage
    for kind, tokens in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cache_read", usage.cache_read_tokens),
        ("cache_write", usage.cache_write_tokens),
    ):
        if tokens:
            metrics.inc(TOKENS, {"tier": attempt.tier.value, "kind": kind}, tokens)


async def _post_secrets_now(github: GitHubClient, prepared: Prepared, result: ReviewResult) -> None:
    """Post the comments on committed secrets before a review is put off for a retry: they do
    not depend on the model, and a leaked key should not wait for an outage to end. The retry
    finds their fingerprints and does not repeat them."""
    if not result.secrets:
        return
    ref = prepared.request.ref
    seen = await github.review_comment_fingerprints(ref)
    new = [c for c in result.secrets if c.fingerprint not in seen]
    if new:
        await github.post_review(ref, prepared.pull.head_sha, _review_body(result, new), new)


def _review_body(result: ReviewResult, new: list[Comment]) -> str:
    secrets = {c.fingerprint for c in result.secrets}
    if all(c.fingerprint in secrets for c in new):
        count = len(new)
        return (
            f"tierbot found {count} line{'s' if count != 1 else ''} in this change that add"
            f"{'s' if count == 1 else ''} a secret; the summary comment has the details."
        )
    return (
        f"tierbot ({result.tier} model `{result.model}`): {len(new)} "
        f"comment{'s' if len(new) != 1 else ''}; the summary comment has the details."
    )
