"""The review of one pull request, start to end, and the answers to slash commands.

job → PR and diff (only what changed since the last reviewed commit, unless asked for `full`)
→ ChangeSet → Complexity → Decision → review (with escalation) → one GitHub review with the new
inline comments → the summary comment, edited in place.

State lives on the pull request itself: the summary comment's signed header says which commit
was last reviewed and whether automatic reviews are paused, and each inline comment ends in its
signed fingerprint, so nothing is posted twice, even after a crash, without any local state
(bot.review.markers: only the bot's own, verified markers are believed). Text from the pull
request or a model is posted only as safe Markdown (bot.review.markdown).

Money (bot.trust, bot.budget): whoever causes the work pays for it, the pull request's author
for a review on an event, the one who asked for a command. Work paid by an account without
write access follows the repo's `review.untrusted_authors`: the local model only, with no
frontier backend to escalate to, or no review at all, whoever wrote the pull request. A paused
pull request is reviewed only when someone with write access asks. Every other job's frontier
requests are held against the month's budgets before they are sent. A "notice" job tells a pull
request that a cap refused its work.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import structlog

from bot.adapters.github import CommentFeedback, GitHubError, PostedReview, PullRef, PullRequest
from bot.adapters.prices import PriceTable
from bot.budget import BudgetedBackend, Limit
from bot.core.complexity import score
from bot.core.cost import (
    DEFAULT_GPU_HOUR_USD,
    DEFAULT_OUTPUT_TOKENS,
    Spend,
    baseline_cost,
    format_usd,
    review_spend,
)
from bot.core.counts import counted
from bot.core.repo_settings import REPO_SETTINGS_PATH, RepoSettings
from bot.core.types import Backend
from bot.diff import ChangeSet, DiffError, parse
from bot.metrics import BASELINE_DOLLARS, DOLLARS, REVIEWS, TOKENS, Metrics
from bot.question import answer_question
from bot.review.anchor import Comment
from bot.review.markdown import code_span, plain_text, safe_markdown
from bot.review.markers import SUMMARY_MARKER, Markers, SummaryState
from bot.review.result import Attempt, ReviewResult
from bot.review.secrets import redact_text
from bot.review.summary import COMMANDS_HELP, render_summary
from bot.reviewer import review_change
from bot.routing import Decision, Models, Task, Tier, decide, without_excluded
from bot.settings import Settings
from bot.trust import Untrusted, may_write, trusted_association

if TYPE_CHECKING:  # the ledger (SQLAlchemy) loads only in processes that keep one
    from bot.adapters.ledger import Ledger

log = structlog.get_logger("tierbot.pipeline")
ASK_A_MAINTAINER = "someone with write access can comment `/review` to have it reviewed"
UNTRUSTED_FRONTIER = "work for accounts without write access is not sent to the frontier model"
UNCOUNTED_BUDGET = (
    "a monthly frontier budget is set but there is no ledger to count it in (TIERBOT_DATABASE_URL)"
)
_SUGGESTION = re.compile(r"^```suggestion[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


class Retry(Exception):
    """A transient failure: the job should be tried again later, and not before `retry_at`
    (epoch seconds) when the service said when."""

    def __init__(self, message: str, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class GitHubClient(Protocol):
    """What the pipeline needs of GitHub (bot.adapters.github.GitHub provides it)."""

    async def pull(self, ref: PullRef) -> PullRequest: ...
    async def pull_diff(self, ref: PullRef) -> bytes: ...
    async def compare(self, owner: str, repo: str, base: str, head: str) -> bytes: ...
    async def file_text(self, owner: str, repo: str, path: str, ref: str) -> str | None: ...
    def markers(self, ref: PullRef) -> Markers: ...
    async def find_comment(self, ref: PullRef, marker: str) -> tuple[int, str] | None: ...
    async def upsert_comment(
        self, ref: PullRef, marker: str, body: str, *, known: tuple[int, str] | None = None
    ) -> int: ...
    async def post_review(
        self, ref: PullRef, head_sha: str, body: str, comments: list[Comment]
    ) -> PostedReview: ...
    async def review_comment_fingerprints(self, ref: PullRef) -> set[str]: ...
    async def add_reaction(self, owner: str, repo: str, comment_id: int, content: str) -> None: ...
    async def reply(self, ref: PullRef, body: str) -> int: ...
    async def permission(self, owner: str, repo: str, login: str) -> str: ...
    async def review_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]: ...
    async def reply_in_thread(self, ref: PullRef, review_comment_id: int, body: str) -> int: ...
    @property
    def bot_login(self) -> str | None: ...


@runtime_checkable
class FeedbackSource(Protocol):
    """A GitHub client that also lists the bot's inline comments with their reactions
    and the fingerprints of its resolved threads (bot.adapters.github.GitHub does); a review and the
    periodic pass (`collect_feedback`) read the ledger's feedback from it."""

    async def review_comment_feedback(self, ref: PullRef) -> list[CommentFeedback]: ...
    async def resolved_fingerprints(self, ref: PullRef) -> set[str]: ...


class Pushes(Protocol):
    """Whether a pull request was pushed to after a time (bot.queue.JobQueue knows, from the
    deliveries it received)."""

    def pushed_since(self, owner: str, repo: str, number: int, since: float) -> bool: ...


@dataclass(frozen=True, slots=True)
class Services:
    """Everything a job needs, made once per process. `pushes` is the queue the jobs come
    from, where there is one (not in the Action)."""

    settings: Settings
    prices: PriceTable
    backends: Mapping[Tier, Backend]
    models: Models
    github_for: Callable[[int | None], Awaitable[GitHubClient]]
    metrics: Metrics | None = None
    ledger: Ledger | None = None
    pushes: Pushes | None = None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """The plain data of a queued job (see bot.queue.Job)."""

    kind: str
    owner: str
    repo: str
    number: int
    installation_id: int | None
    head_sha: str | None
    payload: Mapping[str, Any]


async def run(job: JobSpec, services: Services) -> str:
    """Carry out one job; returns a short outcome. Raises Retry for transient failures, by their
    kind: any GitHub request (the installation token's included) that found GitHub unreachable,
    slow, failing (5xx) or rate limiting (`GitHubError.transient`), and a review whose every
    part failed for a passing reason (`ReviewResult.transient`: a model overloaded, rate
    limited, timing out or unreachable)."""
    ref = PullRef(job.owner, job.repo, job.number)
    try:
        github = await services.github_for(job.installation_id)
        if job.kind == "review":
            return await review_pull(
                github,
                ref,
                services,
                trigger=str(job.payload.get("trigger")),
                installation_id=job.installation_id,
            )
        if job.kind == "command":
            return await _command(github, ref, job.payload, services, job.installation_id)
        if job.kind == "reply":
            return await _thread_reply(github, ref, job.payload, services, job.installation_id)
        if job.kind == "notice":
            return await post_notice(github, ref, job.payload)
    except GitHubError as exc:
        if exc.transient:
            raise Retry(str(exc), exc.retry_at) from exc
        raise
    return f"ignored: unknown job kind {job.kind!r}"


async def report_failure(job: JobSpec, services: Services, reason: str) -> None:
    """Say on the pull request that a job failed for good, and why."""
    github = await services.github_for(job.installation_id)
    ref = PullRef(job.owner, job.repo, job.number)
    previous, state = await read_summary(github, ref)
    text = (
        f"## tierbot review\n\n**This pull request was not reviewed:** "
        f"{plain_text(reason)}.\nNothing here means the change is fine; comment `/review` to try "
        "again.\n"
    )
    body = github.markers(ref).summary_body(text, state)
    await github.upsert_comment(ref, SUMMARY_MARKER, body, known=previous)


async def read_summary(
    github: GitHubClient, ref: PullRef
) -> tuple[tuple[int, str] | None, SummaryState]:
    """The bot's summary comment on the pull request (id and body), if any, and the state its
    signed header vouches for (none when it does not verify)."""
    previous = await github.find_comment(ref, SUMMARY_MARKER)
    if previous is None:
        return None, SummaryState()
    state, _ = github.markers(ref).read_summary(previous[1])
    return previous, state


async def review_pull(
    github: GitHubClient,
    ref: PullRef,
    services: Services,
    *,
    full: bool = False,
    override: Tier | None = None,
    trigger: str = "",
    forced: bool = False,
    installation_id: int | None = None,
    asked_by: tuple[str, str | None] | None = None,
    asked_at: float | None = None,
) -> str:
    """Review the pull request's new commits (or all of it) and post the comments and summary.

    `asked_by` is who asked by command (login, author association). The one who asks pays: the
    review is theirs, with what their access allows (bot.trust), whoever wrote the pull
    request; and a pause is overridden only for someone with write access, the same rule as
    for `/pause` and `/resume` themselves. Without `asked_by` (an event), the author pays and
    a pause holds.

    `asked_at` is when the command was queued (the queue's clock): a command of someone other
    than the author covers the pull request as it was then, so when the queue has received a
    push to it since, the review is not done (see `_moved`)."""
    pull = await github.pull(ref)
    if pull.state != "open":
        return f"skipped: the pull request is {pull.state}"
    markers = github.markers(ref)
    previous, state = await read_summary(github, ref)
    paused = state.paused
    if paused and not (asked_by and await may_write(github, ref.owner, ref.repo, *asked_by)):
        return "skipped: paused"
    if asked_by and await _moved(services, ref, pull, asked_by[0], asked_at):
        return "skipped: pushed to after the command"
    last = state.head
    if last == pull.head_sha and not forced:
        return "skipped: this commit was already reviewed"
    repo = await _repo_settings(github, ref, pull)

    since = None if full or last is None else last
    diff = await _diff(github, ref, pull, since)
    if diff is None:
        since = None
        diff = await github.pull_diff(ref)
    changes, kept, excluded, problem = _read_change(diff, repo)
    if kept is None:
        body = _not_reviewed(markers, pull.head_sha, plain_text(problem), paused)
        await github.upsert_comment(ref, SUMMARY_MARKER, body, known=previous)
        return "failed: unreadable diff" if changes is None else "skipped: everything excluded"

    repo_name = f"{ref.owner}/{ref.repo}"
    payer = asked_by or (pull.author, pull.author_association)
    policy = await untrusted_policy(github, ref, repo, services.settings.untrusted_authors, [payer])
    not_theirs = _NotDone(github, ref, markers, previous, last, paused, asked_by is not None)
    if policy is Untrusted.NONE:
        why = (
            f"{code_span(payer[0])} has no write access to this repository, and its settings "
            f"(`review.untrusted_authors: none`) leave such work to a maintainer: "
            f"{ASK_A_MAINTAINER}"
        )
        return await not_theirs.say(why, "has no write access")
    backends, models = _allowed(services, policy, repo, repo_name, installation_id, ref.number)
    decision = await _decide_with_budget(
        kept, repo, services, override, repo_name, installation_id, models
    )
    if policy is not None and decision.error is not None:
        why = (
            f"{code_span(payer[0])} has no write access to this repository, so it may be "
            f"reviewed by the local model only, never sent to the frontier model, and the local "
            f"model is not available here "
            f"({plain_text(models.local_unavailable or decision.error)}); {ASK_A_MAINTAINER}"
        )
        return await not_theirs.say(why, "has no write access and there is no local model")
    result = await review_change(
        kept, decision, backends, repo, context=f"{pull.title}\n\n{pull.body}".strip()
    )
    spend = None
    if result.attempts:
        gpu_hour = services.settings.gpu_hour_usd or DEFAULT_GPU_HOUR_USD
        spend = review_spend(result.attempts, services.prices, services.models.frontier, gpu_hour)
    _count(services.metrics, result, spend)
    if result.transient and not forced:
        await _post_secrets_now(github, ref, pull.head_sha, result)
        raise Retry(result.failed or "the review failed")

    if services.ledger is not None and isinstance(github, FeedbackSource):
        earlier = await github.review_comment_feedback(ref)  # one listing for both uses
        seen = {c.fingerprint for c in earlier}
        try:
            resolved = await github.resolved_fingerprints(ref) if earlier else set()
        except GitHubError as exc:  # feedback is a by-product: it never stops a review
            log.warning("could not read resolved threads", pull=str(ref), error=str(exc))
            resolved = set()
        ledger = services.ledger
        await asyncio.to_thread(
            lambda: _record_feedback(ledger, repo_name, ref.number, earlier, changes, resolved)
        )
    else:
        seen = await github.review_comment_fingerprints(ref)
    # The bot's own comments on committed secrets go out whether or not the model review did.
    candidates = [*result.secrets, *(() if result.failed else result.comments)]
    new = [c for c in candidates if c.fingerprint not in seen]
    rejected: list[str] = []
    posted_comments: list[Comment] = []
    if new:
        posted = await github.post_review(ref, pull.head_sha, _review_body(result, new), new)
        rejected = [f"{d.comment.path}:{d.comment.line}: {d.reason}" for d in posted.dropped]
        posted_comments = list(posted.posted)
    month = None
    if services.ledger is not None:
        ledger = services.ledger
        await asyncio.to_thread(
            lambda: ledger.record_review(
                repo=repo_name,
                number=ref.number,
                head_sha=pull.head_sha,
                trigger=trigger,
                result=result,
                spend=spend,
                comments_posted=posted_comments,
                installation_id=installation_id,
            )
        )
        month = await asyncio.to_thread(ledger.month_to_date, repo_name, datetime.now(UTC))
    body = render_summary(
        result,
        spend,
        head_sha=pull.head_sha,
        incremental_from=since,
        posted=len(new) - len(rejected),
        repeated=len(candidates) - len(new),
        rejected=rejected,
        settings_problems=repo.problems,
        excluded=excluded,
        month=month,
    )
    summary = markers.summary_body(body, SummaryState(pull.head_sha, paused))
    await github.upsert_comment(ref, SUMMARY_MARKER, summary, known=previous)
    if result.failed:
        return f"failed: {result.failed}"
    return f"reviewed by {result.tier}: {counted(len(new) - len(rejected), 'comment')} ({trigger})"


async def collect_feedback(
    github: GitHubClient, ref: PullRef, services: Services, installation_id: int | None = None
) -> int:
    """Record the feedback on the bot's inline comments of one pull request without reviewing
    it (the periodic pass over recently reviewed PRs): reactions and resolved threads. Committed
    suggestions need a diff, so only a review finds those. Posts nothing; returns the number of
    new records (0 without a ledger or a client that lists feedback).

    `installation_id` is the installation the client belongs to, kept for the caller's logs."""
    ledger = services.ledger
    if ledger is None or not isinstance(github, FeedbackSource):
        return 0
    earlier = await github.review_comment_feedback(ref)
    if not earlier:
        return 0
    resolved = await github.resolved_fingerprints(ref)
    repo = f"{ref.owner}/{ref.repo}"
    return await asyncio.to_thread(
        lambda: _record_feedback(ledger, repo, ref.number, earlier, None, resolved)
    )


def _record_feedback(
    ledger: Ledger,
    repo: str,
    number: int,
    earlier: list[CommentFeedback],
    changes: ChangeSet | None,
    resolved: Collection[str] = (),
) -> int:
    """Record what the bot's earlier inline comments got since: `thumbs_up` / `thumbs_down` for
    any 👍 / 👎 in GitHub's reaction summary, `resolved` when its fingerprint is in `resolved`
    (its review thread is resolved), and `suggestion_committed` when every line of a comment's
    suggestion block is now an added line of one hunk of its file in `changes` (not looked for
    without `changes`).

    The summary holds counts, not who reacted, so reactions are recorded with actor "" (one
    row per comment and kind, however many reacted); the ledger ignores repeats. A reaction
    taken back later stays recorded. Returns the number of new records."""
    new = 0
    for comment in earlier:
        kinds = [
            *(["thumbs_up"] if comment.thumbs_up else []),
            *(["thumbs_down"] if comment.thumbs_down else []),
            *(["resolved"] if comment.fingerprint in resolved else []),
            *(
                ["suggestion_committed"]
                if changes is not None and _suggestion_committed(comment, changes)
                else []
            ),
        ]
        for kind in kinds:
            new += ledger.record_feedback(
                repo=repo, number=number, fingerprint=comment.fingerprint, kind=kind
            )
    return new


def _suggestion_committed(comment: CommentFeedback, changes: ChangeSet) -> bool:
    """Whether the non-blank lines of the comment's suggestion block, stripped, are all added
    lines of one hunk of its file."""
    match = _SUGGESTION.search(comment.body)
    change = changes.file(comment.path) if match else None
    if match is None or change is None:
        return False
    wanted = {line.strip() for line in match[1].splitlines()} - {""}
    if not wanted:
        return False  # a suggestion that only deletes lines leaves nothing to find
    for hunk in change.hunks:
        added = {text.strip() for kind, _, _, text in hunk.numbered() if kind == "+"}
        if wanted <= added:
            return True
    return False


async def _repo_settings(github: GitHubClient, ref: PullRef, pull: PullRequest) -> RepoSettings:
    """The repo's settings file from its default branch, never from the pull request itself."""
    text = await github.file_text(ref.owner, ref.repo, REPO_SETTINGS_PATH, pull.default_branch)
    return RepoSettings.from_yaml(text) if text is not None else RepoSettings()


def _read_change(
    diff: bytes, repo: RepoSettings
) -> tuple[ChangeSet | None, ChangeSet | None, list[str], str]:
    """The parsed diff, what is left after the settings' exclusions, the excluded paths, and
    why there is nothing to work on when that is the case."""
    try:
        changes = parse(diff)
    except DiffError as exc:
        return None, None, [], f"the diff could not be read ({exc})"
    kept, excluded = without_excluded(changes, repo)
    if kept is None:
        return changes, None, excluded, "every changed file is excluded by the settings"
    return changes, kept, excluded, ""


async def _diff(
    github: GitHubClient, ref: PullRef, pull: PullRequest, since: str | None
) -> bytes | None:
    """The diff to review: since the last reviewed commit, or the whole PR; None when the
    comparison is not possible (a force-push rewrote history), so the whole PR is reviewed."""
    if since is None:
        return await github.pull_diff(ref)
    try:
        return await github.compare(ref.owner, ref.repo, since, pull.head_sha)
    except GitHubError as exc:
        if exc.status in (404, 422):
            return None
        raise


async def _decide_with_budget(
    kept: Any,
    repo: RepoSettings,
    services: Services,
    override: Tier | None,
    repo_name: str,
    installation_id: int | None,
    models: Models | None = None,
) -> Decision:
    """The decision, with the month's frontier budget left (installation's and repo's), among
    `models` (those of the services unless given)."""
    complexity = score(kept)
    paths = tuple(f.path for f in kept.files)
    left, note = await _budget_left(services, _limits(services, repo, repo_name, installation_id))
    estimate = None
    if left is not None:
        price = services.prices.require(services.models.frontier)
        estimate = baseline_cost(complexity.context_tokens, DEFAULT_OUTPUT_TOKENS, price)
    return decide(
        complexity,
        models or services.models,
        repo=repo,
        paths=paths,
        override=override,
        frontier_budget_left_usd=left,
        frontier_estimate_usd=estimate,
        budget_note=note,
    )


def _limits(
    services: Services, repo: RepoSettings, repo_name: str, installation_id: int | None
) -> list[Limit]:
    """The monthly frontier budgets that apply: the operator's, for the installation (or, with
    no installation, as in the Action, for the repo), and the repo's own."""
    limits: list[Limit] = []
    budget = services.settings.frontier_budget_usd
    if budget is not None and installation_id is not None:
        limits.append(Limit(budget, "this installation", installation_id=installation_id))
    elif budget is not None:
        limits.append(Limit(budget, "this repository's workflows", repo=repo_name))
    if repo.frontier_budget_usd is not None:
        limits.append(Limit(repo.frontier_budget_usd, "this repo", repo=repo_name))
    return limits


async def _budget_left(services: Services, limits: Sequence[Limit]) -> tuple[Decimal | None, str]:
    """The smallest frontier budget left this month (spent and held counted), and its figures
    in words."""
    ledger = services.ledger
    if ledger is None or not limits:
        return None, ""
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
    return limit.usd - charged, (
        f"{format_usd(charged)} of {format_usd(limit.usd)} spent by {limit.who}"
    )


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


def _allowed(
    services: Services,
    policy: Untrusted | None,
    repo: RepoSettings,
    repo_name: str,
    installation_id: int | None,
    number: int,
) -> tuple[Mapping[Tier, Backend], Models]:
    """The backends and models a job may use. Untrusted work (a `policy`) gets the local model
    alone: no frontier backend at all, so nothing can escalate to it. Other work gets the
    frontier backend behind the month's budgets (bot.budget), when any applies; a budget with
    no ledger to count it in (the Action without TIERBOT_DATABASE_URL) allows no frontier work."""
    local: dict[Tier, Backend] = {
        tier: b for tier, b in services.backends.items() if tier is Tier.LOCAL
    }
    if policy is not None:
        return local, replace(services.models, frontier_unavailable=UNTRUSTED_FRONTIER)
    frontier = services.backends.get(Tier.FRONTIER)
    limits = _limits(services, repo, repo_name, installation_id)
    if limits and services.ledger is None:
        return local, replace(services.models, frontier_unavailable=UNCOUNTED_BUDGET)
    if services.ledger is None or frontier is None or not limits:
        return services.backends, services.models
    purse = services.ledger.purse(
        limits, repo=repo_name, number=number, installation_id=installation_id
    )
    price = services.prices.require(frontier.model)
    held = BudgetedBackend(frontier, purse, price)
    return {**services.backends, Tier.FRONTIER: held}, services.models


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s calendar month, in UTC."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _count(metrics: Metrics | None, result: ReviewResult, spend: Spend | None) -> None:
    """Reviews by tier, tokens by kind and dollars against the baseline, for /metrics."""
    if metrics is None:
        return
    if not result.failed:
        metrics.inc(REVIEWS, {"tier": result.tier.value})
    _count_requests(metrics, result.attempts, spend)


def _count_requests(metrics: Metrics, attempts: Sequence[Attempt], spend: Spend | None) -> None:
    """Tokens by tier and kind, and dollars against the baseline, of any task's requests."""
    for attempt in attempts:
        tier = attempt.tier.value
        usage = attempt.usage
        for kind, tokens in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_tokens),
            ("cache_write", usage.cache_write_tokens),
        ):
            if tokens:
                metrics.inc(TOKENS, {"tier": tier, "kind": kind}, tokens)
    if spend is not None:
        metrics.inc(DOLLARS, {"tier": "frontier"}, float(spend.frontier_usd))
        metrics.inc(DOLLARS, {"tier": "local"}, float(spend.local_usd))
        metrics.inc(BASELINE_DOLLARS, None, float(spend.baseline_usd))


async def _post_secrets_now(
    github: GitHubClient, ref: PullRef, head_sha: str, result: ReviewResult
) -> None:
    """Post the comments on committed secrets before a review is put off for a retry: they do
    not depend on the model, and a leaked key should not wait for an outage to end. The retry
    finds their fingerprints and does not repeat them."""
    if not result.secrets:
        return
    seen = await github.review_comment_fingerprints(ref)
    new = [c for c in result.secrets if c.fingerprint not in seen]
    if new:
        await github.post_review(ref, head_sha, _review_body(result, new), new)


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


async def _moved(
    services: Services, ref: PullRef, pull: PullRequest, asker: str, asked_at: float | None
) -> bool:
    """Whether the pull request may have moved on from what someone other than its author saw
    when they asked for a review: the queue received a push to it after the command.

    The command's payload does not carry the head it was given on
    (https://docs.github.com/en/webhooks/webhook-events-and-payloads#issue_comment), and no API
    tells when a commit was pushed (commit dates are the pusher's to choose), so the order in
    which the queue received the two deliveries is the record: GitHub's, as it sent them, which
    no author can set. A push delivered before the command counts as one the asker could see,
    and one delivered after it as one they could not, even when it was pushed before (the review
    then waits for a new command, which is safe). Missed: a push delivered only after this check
    although it landed before the job read the head (within seconds of the command), and a push
    GitHub delivers ahead of an earlier command's delivery, or never."""
    if asked_at is None or services.pushes is None or asker.casefold() == pull.author.casefold():
        return False
    pushes = services.pushes
    return await asyncio.to_thread(pushes.pushed_since, ref.owner, ref.repo, ref.number, asked_at)


@dataclass(frozen=True, slots=True)
class _NotDone:
    """Where to say that a review was not done because of who would pay for it: for an event,
    in the summary (keeping the commit last reviewed, so a later review covers everything
    since); for a command, in a reply to it, so that a command from someone else cannot rewrite
    the summary of a pull request that was reviewed."""

    github: GitHubClient
    ref: PullRef
    markers: Markers
    previous: tuple[int, str] | None
    last: str | None
    paused: bool
    asked: bool

    async def say(self, why: str, what: str) -> str:
        """Post `why` (safe Markdown); the outcome, naming who `what` is about."""
        if self.asked:
            await self.github.reply(self.ref, f"**Not reviewed:** {why}.")
            return f"skipped: the asker {what}"
        body = _not_reviewed(self.markers, self.last, why, self.paused)
        await self.github.upsert_comment(self.ref, SUMMARY_MARKER, body, known=self.previous)
        return f"skipped: the author {what}"


def _not_reviewed(markers: Markers, head_sha: str | None, reason: str, paused: bool) -> str:
    """The summary of a pull request that was not reviewed, and why (`reason`: safe Markdown,
    see bot.review.markdown); `head_sha` is the commit to count as done (None: none, so that a
    later review still covers every change)."""
    text = (
        f"## tierbot review\n\n**This pull request was not reviewed:** {reason}."
        f"\n\n<sub>{COMMANDS_HELP}</sub>\n"
    )
    return markers.summary_body(text, SummaryState(head_sha, paused))


# --- commands ------------------------------------------------------------------------------

_PAUSED = (
    "Reviews on this pull request are paused: only someone with write access to the repository "
    "can ask for one now, or turn them back on with `/resume`."
)
_MOVED = (
    "This pull request was pushed to after {user} asked for a review, so it was not reviewed for "
    "them: a review someone asks for covers what they saw. Comment `/review` again to review the "
    "new commits."
)
_REFUSED = (
    "Sorry {user}, {command} spends frontier-model money or changes how this pull request "
    "is reviewed, so it needs write access to the repository."
)


async def _command(
    github: GitHubClient,
    ref: PullRef,
    payload: Mapping[str, Any],
    services: Services,
    installation_id: int | None = None,
) -> str:
    name = str(payload.get("command", "help"))
    args = [str(a) for a in payload.get("args", [])]
    user = str(payload.get("user", ""))
    comment_id = payload.get("comment_id")
    if isinstance(comment_id, int):
        await github.add_reaction(ref.owner, ref.repo, comment_id, "eyes")
    association = payload.get("author_association")
    association = association if isinstance(association, str) else None
    if payload.get("needs_permission_check") and not await may_write(
        github, ref.owner, ref.repo, user, association
    ):
        who = plain_text(f"@{user}")  # named, not mentioned: the bot notifies no one
        command = code_span(f"/{name} {' '.join(args)}".strip())
        await github.reply(ref, _REFUSED.format(user=who, command=command))
        return "refused: no write access"
    if name == "review":
        override = (
            Tier.LOCAL if "--local" in args else Tier.FRONTIER if "--frontier" in args else None
        )
        # Plain `/review` reviews what changed since the last review; only `full` or a chosen
        # tier (which need write access) review an already reviewed commit again.
        forced = "full" in args or override is not None
        outcome = await review_pull(
            github,
            ref,
            services,
            full="full" in args,
            override=override,
            trigger="/review",
            forced=forced,
            installation_id=installation_id,
            asked_by=(user, association),
            asked_at=_number(payload.get("queued_at")),
        )
        if outcome == "skipped: paused":
            await github.reply(ref, _PAUSED)
        elif outcome == "skipped: pushed to after the command":
            await github.reply(ref, _MOVED.format(user=plain_text(f"@{user}")))
        elif outcome.startswith("skipped: this commit"):
            await github.reply(
                ref, "This commit was already reviewed; `/review full` reviews it again."
            )
        return outcome
    if name == "route":
        return await _route(github, ref, services, installation_id)
    if name in ("pause", "resume"):
        return await _pause(github, ref, paused=name == "pause")
    if name == "ask":
        question = str(args[0]) if args else ""
        asker = (user, association)
        text = await _answer(github, ref, question, services, "", installation_id, asker)
        await github.reply(ref, f"{_quote(question)}\n\n{text}")
        return "replied: /ask"
    if name == "cost":
        await github.reply(ref, await _cost_text(ref, services))
        return "replied: /cost"
    await github.reply(ref, "tierbot commands:\n\n" + COMMANDS_HELP)
    return "replied: help"


async def _thread_reply(
    github: GitHubClient,
    ref: PullRef,
    payload: Mapping[str, Any],
    services: Services,
    installation_id: int | None = None,
) -> str:
    """Answer a reply in a review thread, but only in the bot's own threads."""
    root_id = payload.get("in_reply_to_id")
    comment_id = payload.get("comment_id")
    if not isinstance(root_id, int):
        return "ignored: not a reply in a thread"
    root = await github.review_comment(ref.owner, ref.repo, root_id)
    author = str((root.get("user") or {}).get("login", ""))
    if github.bot_login is None or author != github.bot_login:
        return "ignored: a thread the bot did not start"
    question = str(payload.get("question", "")).strip()
    if not question:
        return "ignored: an empty reply"
    where = f"{root.get('path')}:{root.get('line') or root.get('original_line')}"
    thread = f"The bot's comment on {where}:\n{root.get('body', '')}"
    association = payload.get("author_association")
    asker = (str(payload.get("user", "")), association if isinstance(association, str) else None)
    text = await _answer(github, ref, question, services, thread, installation_id, asker)
    await github.reply_in_thread(ref, root_id, text)
    if isinstance(comment_id, int):
        return f"replied in thread {root_id} to {comment_id}"
    return f"replied in thread {root_id}"


async def _answer(
    github: GitHubClient,
    ref: PullRef,
    question: str,
    services: Services,
    thread: str,
    installation_id: int | None = None,
    asker: tuple[str, str | None] = ("", None),
) -> str:
    """The answer to post, or why there is none; never an empty success. `asker` is who asked
    (login, author association): without write access, the untrusted policy applies."""
    pull = await github.pull(ref)
    repo = await _repo_settings(github, ref, pull)
    repo_name = f"{ref.owner}/{ref.repo}"
    policy = await untrusted_policy(github, ref, repo, services.settings.untrusted_authors, [asker])
    if policy is Untrusted.NONE:
        return (
            "Questions are answered for people with write access only on this repository "
            "(its settings say `review.untrusted_authors: none`)."
        )
    _, kept, _, problem = _read_change(await github.pull_diff(ref), repo)
    if kept is None:
        return f"I cannot answer: {plain_text(problem)}."
    complexity = score(kept)
    paths = tuple(f.path for f in kept.files)
    backends, models = _allowed(services, policy, repo, repo_name, installation_id, ref.number)
    decision = decide(complexity, models, task=Task.ASK, repo=repo, paths=paths)
    answer = await answer_question(kept, question, decision, backends, repo, thread=thread)
    if answer.failed and not answer.text:
        return f"I could not answer: {plain_text(answer.failed)}."
    gpu_hour = services.settings.gpu_hour_usd or DEFAULT_GPU_HOUR_USD
    spend = review_spend(answer.attempts, services.prices, services.models.frontier, gpu_hour)
    if services.metrics is not None:
        _count_requests(services.metrics, answer.attempts, spend)
    if services.ledger is not None and answer.attempts:
        ledger = services.ledger
        await asyncio.to_thread(
            lambda: ledger.record_request(
                repo=f"{ref.owner}/{ref.repo}",
                number=ref.number,
                attempts=answer.attempts,
                spend=spend,
                installation_id=installation_id,
            )
        )
    return (
        f"{answer.text}\n\n<sub>Answered by the {answer.tier} model `{answer.model}` for "
        f"{format_usd(spend.spent_usd)}.</sub>"
    )


async def _cost_text(ref: PullRef, services: Services) -> str:
    """This repo's month so far: reviews and requests by tier, spend against the baseline."""
    ledger = services.ledger
    if ledger is None:
        return "Costs are not recorded by this tierbot (it runs without a ledger)."
    repo = f"{ref.owner}/{ref.repo}"
    since = month_start(datetime.now(UTC))
    report = await asyncio.to_thread(lambda: ledger.report(repo=repo, since=since))
    lines = [f"**{repo} this month** ({since:%B %Y}):", ""]
    lines.append("| tier | reviews | requests | tokens in / out | spent |")
    lines.append("|---|---|---|---|---|")
    for tier in report.tiers:
        tokens = tier.tokens
        lines.append(
            f"| {tier.tier} | {tier.reviews} | {tier.requests} | "
            f"{tokens.input + tokens.cache_read:,} / {tokens.output:,} | {format_usd(tier.usd)} |"
        )
    saved = "" if report.saved_pct is None else f" ({report.saved_pct}% saved)"
    lines += [
        "",
        f"Spent {format_usd(report.spend_usd)} against {format_usd(report.baseline_usd)} "
        f"for the same work on the frontier model alone{saved}; "
        f"{counted(report.escalations, 'local review')} "
        f"{'was' if report.escalations == 1 else 'were'} escalated.",
    ]
    return "\n".join(lines)


def _number(value: object) -> float | None:
    """A number from a job's payload, or None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _quote(text: str) -> str:
    """The first line of a question (200 characters at most, its secrets redacted) as safe
    Markdown, each of its lines made a quote."""
    first = redact_text(text).strip().split("\n", 1)[0]
    safe = safe_markdown(first[:200] + ("…" if len(first) > 200 else ""))
    return "\n".join(f"> {line}" if line else ">" for line in safe.split("\n"))


async def post_notice(github: GitHubClient, ref: PullRef, payload: Mapping[str, Any]) -> str:
    """Tell the pull request that a cap refused work (bot.caps): for a review, its summary
    says it was not reviewed and why (keeping the commit last reviewed, so a later review
    covers everything since); for a command, one reply. The reason is bot.caps' own safe
    Markdown (`Refusal.text`), carried in the job's payload."""
    reason = str(payload.get("reason", "an hourly cap was reached"))
    if payload.get("work") == "review":
        previous, state = await read_summary(github, ref)
        why = f"{reason}; {ASK_A_MAINTAINER}"
        text = _not_reviewed(github.markers(ref), state.head, why, state.paused)
        await github.upsert_comment(ref, SUMMARY_MARKER, text, known=previous)
        return f"noticed: review not done ({reason})"
    await github.reply(
        ref,
        f"Not carried out: {reason}. Until the hour is over, further commands from "
        f"{code_span(str(payload.get('user', '')))} on this repository are not carried out, "
        "and this is the only reply about them.",
    )
    return f"noticed: command not carried out ({reason})"


async def _route(
    github: GitHubClient, ref: PullRef, services: Services, installation_id: int | None
) -> str:
    pull = await github.pull(ref)
    repo = await _repo_settings(github, ref, pull)
    _, kept, _, problem = _read_change(await github.pull_diff(ref), repo)
    if kept is None:
        await github.reply(ref, f"This pull request cannot be routed: {plain_text(problem)}.")
        return "replied: nothing to route"
    repo_name = f"{ref.owner}/{ref.repo}"
    decision = await _decide_with_budget(kept, repo, services, None, repo_name, installation_id)
    lines = [
        f"This pull request would be reviewed by the **{decision.tier}** model "
        f"`{decision.model}` (complexity {decision.score}/100):",
        "",
        *(f"- {plain_text(reason)}" for reason in decision.reasons),
    ]
    if decision.error:
        lines += ["", f"It cannot be reviewed now: {plain_text(decision.error)}."]
    await github.reply(ref, "\n".join(lines))
    return f"replied: route {decision.tier}"


async def _pause(github: GitHubClient, ref: PullRef, *, paused: bool) -> str:
    markers = github.markers(ref)
    found, state = await read_summary(github, ref)
    fresh = "## tierbot review\n\nNot reviewed yet.\n"
    text = markers.read_summary(found[1])[1] if found else fresh
    body = markers.summary_body(text, SummaryState(state.head, paused))
    await github.upsert_comment(ref, SUMMARY_MARKER, body, known=found)
    word = "paused" if paused else "resumed"
    await github.reply(
        ref,
        f"Automatic reviews on this pull request are {word}."
        + (" Comment `/resume` to turn them back on." if paused else ""),
    )
    return word
