"""The review of one change by the tier routing chose, with escalation to the frontier model.

Plan the prompts within the tier's budget, run the parts concurrently on the backend, read and
anchor the answers, and for a local review ask the confidence check whether it can stand; when
it cannot, the frontier model redoes the whole review and its result replaces the local one.
Every request is kept as an Attempt with its usage, time and errors, so costs can be recorded.
A review that could not be done says so in `failed`; one that was done in part lists the parts
that failed, and their files' coverage says why.

A model sees the change with its secrets redacted (always the frontier model; the local one
unless the repo's `privacy.redact_local` is false), and the secrets the change adds come back
as the bot's own comments in `secrets`, whether or not the model review could be done.

The review's comments are then screened, checked against the diff and capped (bot.pipeline.verify):
`comments` are the ones to post, `held` the others with why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from bot.core.anchor import Anchored, Comment, anchor, fingerprint
from bot.core.answer_schema import ModelReview, RawComment, read_answer
from bot.core.confidence import CommentConfidence, Thresholds, Verdict, comment_confidence, judge
from bot.core.cost import estimate_tokens
from bot.core.diff import ChangeSet
from bot.core.guidance import window_share
from bot.core.markdown.safe import safe_markdown
from bot.core.packing import Coverage
from bot.core.prompt import SYSTEM, Budget, Plan, plan_review, request_for, stable_text
from bot.core.repo_settings import RepoSettings
from bot.core.result import Attempt, ReviewResult
from bot.core.routing import Decision, Tier
from bot.core.secrets.leaks import Exposure, expose, leak_comments
from bot.core.secrets.redaction import redact
from bot.core.selection import Earlier
from bot.core.types import Backend, Completion, ErrorKind, ModelError, Usage
from bot.pipeline.verify import Shown, Verifier, select

LOCAL_OUTPUT_TOKENS = 2048
FRONTIER_OUTPUT_TOKENS = 4096
FRONTIER_PART_TOKENS = 48_000
LOCAL_MAX_PARTS = 8
FRONTIER_MAX_PARTS = 4
_MARGIN_TOKENS = 256
# Failures that may pass: a review that failed only for these is retried later, not reported.
TRANSIENT = frozenset(
    {ErrorKind.OVERLOADED, ErrorKind.RATE_LIMITED, ErrorKind.TIMEOUT, ErrorKind.OUTAGE}
)


def redacts(tier: Tier, repo: RepoSettings) -> bool:
    """Whether what is sent to `tier` has its secrets redacted: always for the frontier model,
    for the local model unless the repo's settings say otherwise."""
    return tier is Tier.FRONTIER or repo.redact_local


def budget_for(
    tier: Tier, context_tokens: int, repo: RepoSettings, paths: tuple[str, ...]
) -> Budget:
    """The budget of one request on `tier`: the window less the fixed text (with at most a
    quarter of the window of the repo's guidance) and the answer."""
    guidance = window_share(context_tokens)
    fixed = estimate_tokens(SYSTEM + stable_text(repo, paths, guidance)) + _MARGIN_TOKENS
    if tier is Tier.LOCAL:
        room = context_tokens - LOCAL_OUTPUT_TOKENS - fixed
        return Budget(max(room, 512), LOCAL_MAX_PARTS, LOCAL_OUTPUT_TOKENS, guidance)
    room = min(FRONTIER_PART_TOKENS, context_tokens - FRONTIER_OUTPUT_TOKENS - fixed)
    return Budget(room, FRONTIER_MAX_PARTS, FRONTIER_OUTPUT_TOKENS, guidance)


async def review_change(
    changes: ChangeSet,
    decision: Decision,
    backends: Mapping[Tier, Backend],
    repo: RepoSettings | None = None,
    thresholds: Thresholds | None = None,
    context: str = "",
    frontier_allowed: bool = True,
    *,
    verifier: Verifier | None = None,
    earlier: Earlier | None = None,
) -> ReviewResult:
    """Review `changes` on the decided tier; escalate a doubtful local review to frontier; then
    keep the comments to post (`verifier` checks them where the repo asks; `earlier` are the
    bot's comments already on the pull request)."""
    repo = repo or RepoSettings()
    thresholds = thresholds or repo.escalation
    exposure = expose(changes)
    secrets = leak_comments(exposure.leaks)
    if decision.error is not None:
        return _failed(decision, changes, decision.error, secrets)
    backend = backends.get(decision.tier)
    if backend is None or backend.unavailable_reason() is not None:
        why = backend.unavailable_reason() if backend is not None else "it is not configured"
        return _failed(decision, changes, f"the {decision.tier} model cannot run: {why}", secrets)

    shown = _Shown(changes, exposure, context)
    first = await _attempt(decision.tier, backend, shown, repo, thresholds)
    stood, escalate_for = first, _escalation_reasons(first)
    attempts: tuple[Attempt, ...] = (first.attempt,)
    frontier = backends.get(Tier.FRONTIER)
    if decision.tier is Tier.LOCAL and escalate_for:
        if not frontier_allowed or frontier is None or frontier.unavailable_reason() is not None:
            why = "frontier budget is spent" if not frontier_allowed else "no frontier model"
            escalate_for = (*escalate_for, f"not escalated: {why}")
        else:
            second = await _attempt(Tier.FRONTIER, frontier, shown, repo, thresholds)
            if second.failed_parts and second.failed_kinds == {ErrorKind.UNAVAILABLE}:
                # Not sent at all (the month's frontier budget has no room): the local review
                # stands.
                escalate_for = (*escalate_for, second.failed_parts[0][1])
            else:
                stood, attempts = second, (first.attempt, second.attempt)
    result = _result(decision, stood, secrets, attempts, escalate_for)
    checked_by = None
    if verifier is not None:
        visible, _, _ = shown.to(verifier.tier, repo)
        checked_by = Shown(visible, redacts(verifier.tier, repo))
    return await select(
        result,
        changes,
        repo,
        verifier=verifier,
        shown=checked_by,
        earlier=earlier,
        confidence=stood.confidence,
    )


@dataclass(frozen=True, slots=True)
class _Shown:
    """The change and the pull request's text, as they are and with their secrets redacted."""

    changes: ChangeSet
    exposure: Exposure
    context: str

    def to(self, tier: Tier, repo: RepoSettings) -> tuple[ChangeSet, str, int]:
        """What a request to `tier` may see, and how many secrets were taken out of it."""
        if not redacts(tier, repo):
            return self.changes, self.context, 0
        context = redact(self.context)
        return self.exposure.changes, context.text, self.exposure.redactions + len(context.found)


@dataclass(frozen=True, slots=True)
class _Run:
    attempt: Attempt
    plan: Plan
    reviews_by_part: tuple[tuple[int, ModelReview], ...]
    anchored: Anchored
    failed_parts: tuple[tuple[int, str], ...]
    failed_kinds: frozenset[ErrorKind] = frozenset()
    redactions: int = 0
    confidence: dict[str, CommentConfidence] = field(default_factory=dict)


async def _attempt(
    tier: Tier,
    backend: Backend,
    shown: _Shown,
    repo: RepoSettings,
    thresholds: Thresholds | None,
) -> _Run:
    changes = shown.changes
    paths = tuple(f.path for f in changes.files)
    budget = budget_for(tier, backend.context_tokens, repo, paths)
    visible, context, redactions = shown.to(tier, repo)
    plan = plan_review(visible, budget, repo, context)
    requests = [request_for(plan, part, budget) for part in plan.parts]
    outcomes = await asyncio.gather(
        *(backend.complete(r) for r in requests), return_exceptions=True
    )
    completions: list[Completion] = []
    reviews: list[ModelReview] = []
    by_part: list[tuple[int, ModelReview]] = []
    failed: list[tuple[int, str]] = []
    kinds: set[ErrorKind] = set()
    usage = Usage()
    errors: list[str] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, ModelError):
            failed.append((index, str(outcome)))
            kinds.add(outcome.kind)
            errors.append(f"{plan.parts[index].label}: {outcome}")
            usage = usage + outcome.usage
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        completions.append(outcome)
        usage = usage + outcome.usage
        review = read_answer(outcome.parsed)
        reviews.append(review)
        by_part.append((index, review))
    raw: list[RawComment] = [c for review in reviews for c in review.comments]
    anchored = anchor(raw, changes, max_comments=len(raw))  # capped once the rest are held back
    verdict = None
    confidence: dict[str, CommentConfidence] = {}
    if tier is Tier.LOCAL and completions:
        verdict = _combined_verdict(completions, reviews, changes, thresholds)
        confidence = _confidence(completions, reviews, changes, thresholds)
    attempt = Attempt(
        tier=tier,
        model=backend.model,
        parts=len(plan.parts),
        usage=usage,
        wall_seconds=max((c.wall_seconds for c in completions), default=0.0),
        gpu_seconds=sum(c.gpu_seconds for c in completions),
        errors=tuple(errors),
        verdict=verdict,
        prompt_tokens_estimate=plan.prompt_tokens,
    )
    return _Run(
        attempt,
        plan,
        tuple(by_part),
        anchored,
        tuple(failed),
        frozenset(kinds),
        redactions,
        confidence,
    )


def _confidence(
    completions: list[Completion],
    reviews: list[ModelReview],
    changes: ChangeSet,
    thresholds: Thresholds | None,
) -> dict[str, CommentConfidence]:
    """How sure the local model was of each comment, by the fingerprint anchoring gives it."""
    found: dict[str, CommentConfidence] = {}
    for completion, review in zip(completions, reviews, strict=True):
        measured = comment_confidence(completion, review, thresholds)
        for raw, sure in zip(review.comments, measured, strict=True):
            change = changes.file(raw.path)
            if change is not None:
                found[fingerprint(change.path, raw.code or str(raw.line), raw.body)] = sure
    return found


def _combined_verdict(
    completions: list[Completion],
    reviews: list[ModelReview],
    changes: ChangeSet,
    thresholds: Thresholds | None,
) -> Verdict:
    """One verdict for all parts: each part judged on its own answer, entropy and anchoring.
    Its measures are the highest of any part's, as any part over a threshold escalates."""
    reasons: list[str] = []
    verdicts = []
    for completion, review in zip(completions, reviews, strict=True):
        own = anchor(list(review.comments), changes, max_comments=len(review.comments))
        verdict = judge(completion, review, own, thresholds)
        verdicts.append(verdict)
        for reason in verdict.reasons:
            if reason not in reasons:
                reasons.append(reason)
    means = [v.mean_entropy for v in verdicts if v.mean_entropy is not None]
    quantiles = [v.quantile_entropy for v in verdicts if v.quantile_entropy is not None]
    return Verdict(
        bool(reasons),
        tuple(reasons),
        max(means, default=None),
        max(quantiles, default=None),
        max((v.hedges for v in verdicts), default=0),
    )


def _escalation_reasons(run: _Run) -> tuple[str, ...]:
    reasons: list[str] = []
    if run.attempt.verdict is not None:
        reasons.extend(run.attempt.verdict.reasons)
    for _, error in run.failed_parts:
        reasons.append(f"a request failed: {error}")
    return tuple(reasons)


def _result(
    decision: Decision,
    run: _Run,
    secrets: tuple[Comment, ...],
    attempts: tuple[Attempt, ...],
    escalation: tuple[str, ...],
) -> ReviewResult:
    unusable = dict(run.failed_parts)
    for index, review in run.reviews_by_part:
        if not review.valid:
            unusable[index] = "the answer was not usable: " + "; ".join(review.problems[:2])
    lost = {path: why for index, why in unusable.items() for path in run.plan.parts[index].paths}
    coverage = tuple(
        Coverage(c.path, "skipped", lost[c.path]) if c.path in lost else c
        for c in run.plan.coverage
    )
    failed = None
    transient = False
    if run.plan.parts and len(unusable) == len(run.plan.parts):
        failed = "no part of the review could be done: " + "; ".join(
            dict.fromkeys(unusable.values())
        )
        # Worth another try later only when every part failed for a passing reason.
        transient = len(run.failed_parts) == len(unusable) and run.failed_kinds <= TRANSIENT
    anchored = _without_repeats_of(secrets, run.anchored)
    return ReviewResult(
        decision=decision,
        tier=run.attempt.tier,
        model=run.attempt.model,
        comments=anchored.comments,
        summary=safe_markdown("\n\n".join(r.summary for _, r in run.reviews_by_part if r.summary)),
        coverage=coverage,
        attempts=attempts,
        anchored=anchored,
        escalation=escalation,
        failed=failed,
        transient=transient,
        problems=tuple(p for _, r in run.reviews_by_part for p in r.problems),
        redactions=run.redactions,
        secrets=secrets,
        guidance=run.plan.guidance,
    )


def _without_repeats_of(secrets: tuple[Comment, ...], anchored: Anchored) -> Anchored:
    """The model's comments less its security remarks on lines the bot's own secret comments
    already cover (the model sees the placeholder and often says the same), counted as merged."""
    covered = {(c.path, c.line) for c in secrets}
    kept = tuple(
        c for c in anchored.comments if c.category != "security" or (c.path, c.line) not in covered
    )
    if len(kept) == len(anchored.comments):
        return anchored
    return replace(
        anchored, comments=kept, merged=anchored.merged + len(anchored.comments) - len(kept)
    )


def _failed(
    decision: Decision, changes: ChangeSet, why: str, secrets: tuple[Comment, ...]
) -> ReviewResult:
    return ReviewResult(
        decision=decision,
        tier=decision.tier,
        model=decision.model,
        comments=(),
        summary="",
        coverage=tuple(Coverage(f.path, "skipped", why) for f in changes.files),
        attempts=(),
        anchored=Anchored(comments=()),
        failed=why,
        secrets=secrets,
    )
