"""The comments a review posts: held back by the rules of bot.core.selection, and each one of
severity minor or above checked against the diff by the cheapest capable model first.

The checking model (`Verifier`) is the local model when it can run here (and the work may use it:
not a fork's pull request), else the cheapest model in the price table on the frontier API (and
the work may use that: not untrusted work, not past the month's budget; its requests are held
against the budget like any other frontier request). Whether a review's comments are checked is
the repo's `review.verify` for the tier whose review stood.

What the frontier model sees is redacted as the review's prompts are: the diff with its secrets
replaced, and the comments' paths and text too (a local review that saw a secret may quote it).

A comment the check confirms is posted; one it does not confirm, or finds a duplicate of another,
is held back. A comment that could not be checked (no model to check with, a request that failed,
an answer that is not the JSON asked for or gives it no valid verdict, context too large to show)
is posted all the same, with a line saying it was not checked, and the summary says how many and
why: a failed check neither hides a review's findings nor passes them off as checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from bot.core.anchor import Comment
from bot.core.answer_schema import Severity
from bot.core.confidence import CommentConfidence
from bot.core.cost import estimate_tokens
from bot.core.counts import counted
from bot.core.diff import ChangeSet
from bot.core.guidance import Guidance
from bot.core.pricing import Prices
from bot.core.repo_settings import RepoSettings
from bot.core.result import Attempt, ReviewResult, Verification
from bot.core.routing import Tier
from bot.core.secrets.redaction import redact_text
from bot.core.selection import Earlier, HeldComment, HeldReason, capped, screen
from bot.core.types import Backend, Completion, ModelError, Usage
from bot.core.verification import (
    OUTPUT_TOKENS,
    Check,
    check_request,
    fixed_tokens,
    plan_batches,
    read_checks,
)

FRONTIER_CHECK_TOKENS = 24_000
"""The most prompt tokens one check request to the frontier model carries."""
_MARGIN_TOKENS = 256
UNCHECKED_NOTE = (
    "<sub>tierbot could not check this comment against the diff before posting it; the "
    "summary says why.</sub>"
)


@dataclass(frozen=True, slots=True)
class Verifier:
    """The model that checks comments: a backend, and the model asked of it."""

    backend: Backend
    model: str
    tier: Tier


def verifier_for(backends: Mapping[Tier, Backend], prices: Prices) -> Verifier | None:
    """The cheapest capable model among the backends the work may use: the local model when it
    can run, else the cheapest priced model on the frontier API; None when neither can."""
    local = backends.get(Tier.LOCAL)
    if local is not None and local.unavailable_reason() is None:
        return Verifier(local, local.model, Tier.LOCAL)
    frontier = backends.get(Tier.FRONTIER)
    if frontier is not None and frontier.unavailable_reason() is None:
        return Verifier(frontier, prices.cheapest(), Tier.FRONTIER)
    return None


@dataclass(frozen=True, slots=True)
class Shown:
    """The change as the checking model may see it, and whether its text is to be redacted."""

    changes: ChangeSet
    redacted: bool


async def select(
    result: ReviewResult,
    changes: ChangeSet,
    repo: RepoSettings,
    *,
    verifier: Verifier | None,
    shown: Shown | None,
    earlier: Earlier | None = None,
    confidence: Mapping[str, CommentConfidence] | None = None,
) -> ReviewResult:
    """`result` with only the comments to post, the rest in `held`, the check's findings in
    `verification` and the cap applied (see the module docstring). `shown` is what the
    `verifier` may see of the change (None: no verifier)."""
    if result.failed:
        return result
    kept, held = screen(
        result.comments, min_severity=repo.min_severity, earlier=earlier, confidence=confidence
    )
    verification = None
    if repo.verifies(result.tier):
        wanted = [c for c in kept if c.severity.rank <= Severity.MINOR.rank]
        if wanted:
            checks, verification = await _check(wanted, verifier, shown, repo.guidance)
            kept, held = _apply(kept, held, checks)
    final, over = capped(kept, repo.max_comments, changes, confidence)
    anchored = replace(result.anchored, comments=final, capped=result.anchored.capped + over)
    return replace(
        result, comments=final, anchored=anchored, held=tuple(held), verification=verification
    )


def _apply(
    kept: list[Comment], held: list[HeldComment], checks: Mapping[str, Check | None]
) -> tuple[list[Comment], list[HeldComment]]:
    """Hold back what the check did not confirm; mark what it could not check."""
    posted: list[Comment] = []
    for comment in kept:
        if comment.fingerprint not in checks:
            posted.append(comment)
            continue
        check = checks[comment.fingerprint]
        if check is Check.UNCONFIRMED:
            held.append(HeldComment(comment, HeldReason.UNCONFIRMED))
        elif check is Check.DUPLICATE:
            held.append(HeldComment(comment, HeldReason.DUPLICATE))
        elif check is None:
            posted.append(replace(comment, body=f"{comment.body}\n\n{UNCHECKED_NOTE}"))
        else:
            posted.append(comment)
    return posted, held


async def _check(
    comments: Sequence[Comment],
    verifier: Verifier | None,
    shown: Shown | None,
    guidance: Guidance,
) -> tuple[dict[str, Check | None], Verification]:
    """Each comment's verdict by fingerprint (None: not checked), and the account of it. The
    checker follows the repo's guidance too, within its model's share of the window."""
    unchecked: dict[str, Check | None] = dict.fromkeys((c.fingerprint for c in comments), None)
    if verifier is None or shown is None:
        return unchecked, Verification(
            checked=len(comments),
            unchecked=len(comments),
            failure="no model could check them (neither the local model nor the frontier "
            "model can be used for this pull request)",
        )
    backend = verifier.backend
    guide = guidance.for_window(backend.context_tokens).prompt_text()
    fixed = fixed_tokens() + estimate_tokens(guide) + _MARGIN_TOKENS
    room = backend.context_tokens - OUTPUT_TOKENS - fixed
    if verifier.tier is Tier.FRONTIER:
        room = min(room, FRONTIER_CHECK_TOKENS)
    sent = [_as_shown(c, shown.redacted) for c in comments]
    batches, too_large = plan_batches(sent, shown.changes, room)
    model = verifier.model if verifier.tier is Tier.FRONTIER else ""
    outcomes = await asyncio.gather(
        *(backend.complete(check_request(b, model, guide)) for b in batches),
        return_exceptions=True,
    )
    checks = dict(unchecked)
    problems: list[str] = []
    if too_large:
        problems.append(f"{counted(len(too_large), 'comment')} with too much context to show")
    usage = Usage()
    done: list[Completion] = []
    errors: list[str] = []
    for batch, outcome in zip(batches, outcomes, strict=True):
        if isinstance(outcome, ModelError):
            usage = usage + outcome.usage
            errors.append(str(outcome))
            problems.append(f"a request failed ({outcome.kind})")
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        done.append(outcome)
        usage = usage + outcome.usage
        read = read_checks(outcome.parsed, len(batch.comments))
        if read.problems:
            problems.append("the answer was not usable: " + "; ".join(read.problems[:2]))
        for comment, check in zip(batch.comments, read.checks, strict=True):
            checks[comment.fingerprint] = check
    attempt = None
    if batches:
        attempt = Attempt(
            tier=verifier.tier,
            model=verifier.model,
            parts=len(batches),
            usage=usage,
            wall_seconds=max((c.wall_seconds for c in done), default=0.0),
            gpu_seconds=sum(c.gpu_seconds for c in done),
            errors=tuple(errors),
            prompt_tokens_estimate=sum(b.tokens + fixed for b in batches),
        )
    found = list(checks.values())
    return checks, Verification(
        checked=len(comments),
        confirmed=found.count(Check.CONFIRMED),
        unconfirmed=found.count(Check.UNCONFIRMED),
        duplicates=found.count(Check.DUPLICATE),
        unchecked=found.count(None),
        model=verifier.model,
        attempt=attempt,
        failure="; ".join(dict.fromkeys(problems)) or None,
    )


def _as_shown(comment: Comment, redacted: bool) -> Comment:
    """The comment as the checking model may see it: its path and text redacted when the
    model may not see secrets."""
    if not redacted:
        return comment
    # The same redaction as the change's own paths (bot.core.secrets.leaks.expose), so the
    # comment still names its file as the redacted change does.
    return replace(comment, path=redact_text(comment.path), body=redact_text(comment.body))
