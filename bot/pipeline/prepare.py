"""`prepare`: everything decided before a model runs, in one place.

The skip rules (a pull request that is not open, paused, pushed to after the command that asked,
or whose commit was already reviewed), the repo's settings and its guidance for reviewers
(`AGENTS.md` and the like: from the default branch, never from the pull request), the diff (the
commits since the last review, or all of it when GitHub cannot compare them), parsing and
exclusion, who pays and what their access allows (bot.core.trust), the month's frontier budgets
(bot.adapters.budget), the decision, and what the review would cost on each tier.
It returns what to review (`Prepared`) or an `Outcome` saying why not, with the summary or reply
that says so; it posts nothing itself.

Money: whoever causes the work pays for it, the pull request's author for a review on an event,
the one who asked for a command. Work paid by an account without write access follows the
repo's `review.untrusted_authors`: the local model only, with no frontier backend to escalate
to, or no review at all. A paused pull request is reviewed only when someone with write access
asks. Every other job's frontier requests are held against the month's budgets before they are
sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from bot.adapters.github import GitHubError, PullRef, PullRequest
from bot.core.guidance import GUIDANCE_FILES, Dropped
from bot.core.markdown.safe import code_span, plain_text
from bot.core.markers import SUMMARY_MARKER, Markers, SummaryState
from bot.core.prompt import Plan
from bot.core.render import Estimates
from bot.core.repo_settings import REPO_SETTINGS_PATH, RepoSettings
from bot.core.routing import Decision, Models, Task, Tier
from bot.core.summary import COMMANDS_HELP
from bot.core.trust import Untrusted, may_write
from bot.core.types import Backend
from bot.pipeline.allowance import Decided, Where, decide_change, untrusted_policy
from bot.pipeline.change import Change, Unreadable, pull_context, read_change
from bot.pipeline.repo_files import MAX_FILE_BYTES, read_default_files
from bot.pipeline.request import Outcome, Request, Status
from bot.pipeline.services import GitHubClient, Services

ASK_A_MAINTAINER = "someone with write access can comment `/review` to have it reviewed"
PAUSED = "paused"
MOVED = "pushed to after the command"
ALREADY_REVIEWED = "this commit was already reviewed"
_PAUSED_REPLY = (
    "Reviews on this pull request are paused: only someone with write access to the repository "
    "can ask for one now, or turn them back on with `/resume`."
)
_MOVED_REPLY = (
    "This pull request was pushed to after {user} asked for a review, so it was not reviewed for "
    "them: a review someone asks for covers what they saw. Comment `/review` again to review the "
    "new commits."
)
_ALREADY_REPLY = "This commit was already reviewed; `/review full` reviews it again."


@dataclass(frozen=True, slots=True)
class Summary:
    """The bot's summary comment on a pull request (id and body; None when there is none) and
    the state its signed header vouches for."""

    found: tuple[int, str] | None
    state: SummaryState


@dataclass(frozen=True, slots=True)
class Prepared:
    """What to review: the pull request, its settings, the change since `since` (None: all of
    it), the backends and models the payer may use, the decision, and each tier's prompts and
    estimated cost. `policy` is the untrusted policy applied (None: the payer may write)."""

    request: Request
    pull: PullRequest
    repo: RepoSettings
    summary: Summary
    since: str | None
    change: Change
    policy: Untrusted | None
    context: str
    decided: Decided

    @property
    def decision(self) -> Decision:
        """The tier and model the work goes to, and why."""
        return self.decided.decision

    @property
    def backends(self) -> Mapping[Tier, Backend]:
        """The backends the payer may use."""
        return self.decided.backends

    @property
    def models(self) -> Models:
        """The models the payer may use, with why any cannot run."""
        return self.decided.models

    @property
    def plans(self) -> Mapping[Tier, Plan]:
        """Each tier's prompts."""
        return self.decided.plans

    @property
    def estimates(self) -> Estimates:
        """What the review would cost on each tier."""
        return self.decided.estimates

    def outcome(self, status: Status, reason: str, **more: object) -> Outcome:
        """An outcome that carries what was prepared (decision, estimates, coverage)."""
        fields: dict[str, object] = {
            "decision": self.decision,
            "estimates": self.estimates,
            "coverage": self.plans[self.decision.tier].coverage,
            "excluded": self.change.excluded,
            "tier": self.decision.tier,
            "model": self.decision.model,
        }
        return Outcome(status, reason, **(fields | more))  # type: ignore[arg-type]


async def prepare(github: GitHubClient, request: Request, services: Services) -> Prepared | Outcome:
    """What `request` leads to before any model runs: what to review, or why not (with the
    summary or reply that says so, for the caller to post unless it is a dry run)."""
    ref = request.ref
    review = request.task is Task.REVIEW
    pull = await github.pull(ref)
    summary = await read_summary(github, ref)
    state = summary.state
    asked = request.asked_by
    if review:
        if pull.state != "open":
            return Outcome(Status.SKIPPED, f"the pull request is {pull.state}")
        if state.paused and not (asked and await may_write(github, ref.owner, ref.repo, *asked)):
            return Outcome(Status.SKIPPED, PAUSED, reply=_PAUSED_REPLY if asked else None)
        if asked and await _moved(services, ref, pull, asked[0], request.asked_at):
            reply = _MOVED_REPLY.format(user=plain_text(f"@{asked[0]}"))
            return Outcome(Status.SKIPPED, MOVED, reply=reply)
        if state.head == pull.head_sha and not request.forced:
            return Outcome(
                Status.SKIPPED, ALREADY_REVIEWED, reply=_ALREADY_REPLY if asked else None
            )
    repo = await repo_settings(github, ref, pull, services)
    since = None if request.full or not review else state.head
    diff = await _diff(github, ref, pull, since)
    if diff is None:
        since = None
        diff = await github.pull_diff(ref)
    markers = github.markers(ref)
    read = read_change(diff, repo)
    if isinstance(read, Unreadable):
        status = Status.FAILED if read.changes is None else Status.SKIPPED
        reason = "unreadable diff" if read.changes is None else "everything excluded"
        body = None
        if review:
            body = not_reviewed(markers, pull.head_sha, plain_text(read.problem), state.paused)
        detail = read.problem if not review else reason
        return Outcome(status, detail, summary=body, excluded=read.excluded)
    change = read

    repo_name = f"{ref.owner}/{ref.repo}"
    payer = asked or (pull.author, pull.author_association)
    policy = await untrusted_policy(github, ref, repo, services.settings.untrusted_authors, [payer])
    who = "asker" if asked else "author"
    if policy is Untrusted.NONE:
        why = (
            f"{code_span(payer[0])} has no write access to this repository, and its settings "
            f"(`review.untrusted_authors: none`) leave such work to a maintainer: "
            f"{ASK_A_MAINTAINER}"
        )
        status = Status.SKIPPED if review else Status.REFUSED
        return _not_done(status, f"the {who} has no write access", why, summary, markers, request)
    context = pull_context(pull.title, pull.body)
    where = Where(repo_name, ref.number, request.installation_id)
    decided = await decide_change(
        change,
        repo,
        context,
        services,
        task=request.task,
        override=request.override,
        fork=request.fork,
        policy=policy,
        where=where,
    )
    prepared = Prepared(request, pull, repo, summary, since, change, policy, context, decided)
    decision, models = decided.decision, decided.models
    if review and policy is not None and decision.error is not None:
        why = (
            f"{code_span(payer[0])} has no write access to this repository, so it may be "
            f"reviewed by the local model only, never sent to the frontier model, and the local "
            f"model is not available here "
            f"({plain_text(models.local_unavailable or decision.error)}); {ASK_A_MAINTAINER}"
        )
        done = _not_done(
            Status.SKIPPED,
            f"the {who} has no write access and there is no local model",
            why,
            summary,
            markers,
            request,
        )
        return prepared.outcome(done.status, done.reason, summary=done.summary, reply=done.reply)
    nothing = decided.nothing_to_review() if review else None
    if nothing is not None:
        text = (
            f"## tierbot review\n\n**Nothing to review:** {plain_text(nothing)}."
            f"\n\n<sub>{COMMANDS_HELP}</sub>\n"
        )
        body = markers.summary_body(text, SummaryState(pull.head_sha, state.paused))
        return prepared.outcome(Status.NOTHING, nothing, summary=body, model=None)
    return prepared


async def read_summary(github: GitHubClient, ref: PullRef) -> Summary:
    """The bot's summary comment on the pull request, if any, and the state its signed header
    vouches for (none when it does not verify). A client that does not know the bot's login
    (`tierbot review` with a person's token) cannot tell its comments apart: it sees none."""
    if github.bot_login is None:
        return Summary(None, SummaryState())
    found = await github.find_comment(ref, SUMMARY_MARKER)
    if found is None:
        return Summary(None, SummaryState())
    state, _ = github.markers(ref).read_summary(found[1])
    return Summary(found, state)


async def repo_settings(
    github: GitHubClient, ref: PullRef, pull: PullRequest, services: Services
) -> RepoSettings:
    """The repo's settings: the file the services carry (a face's `config`), else the settings
    file from the default branch; with the guidance files from the default branch. Never
    anything from the pull request itself, whose author could write their own rules."""
    given = services.settings_text
    wanted = GUIDANCE_FILES if given is not None else (REPO_SETTINGS_PATH, *GUIDANCE_FILES)
    read = await read_default_files(github, ref.owner, ref.repo, pull.default_branch, wanted)
    text = given if given is not None else read.texts.get(REPO_SETTINGS_PATH)
    if REPO_SETTINGS_PATH in read.too_big:
        repo = RepoSettings.too_big(read.too_big[REPO_SETTINGS_PATH])
    else:
        repo = RepoSettings.from_yaml(text) if text is not None else RepoSettings()
    files = {path: text for path, text in read.texts.items() if path in GUIDANCE_FILES}
    unread = tuple(
        Dropped(path, f"{size:,} bytes, over the {MAX_FILE_BYTES:,} read; not used")
        for path, size in read.too_big.items()
        if path in GUIDANCE_FILES
    )
    return repo.with_files(files, unread)


def not_reviewed(markers: Markers, head_sha: str | None, reason: str, paused: bool) -> str:
    """The summary of a pull request that was not reviewed, and why (`reason`: safe Markdown,
    see bot.core.markdown.safe); `head_sha` is the commit to count as done (None: none, so that a
    later review still covers every change)."""
    text = (
        f"## tierbot review\n\n**This pull request was not reviewed:** {reason}."
        f"\n\n<sub>{COMMANDS_HELP}</sub>\n"
    )
    return markers.summary_body(text, SummaryState(head_sha, paused))


def _not_done(
    status: Status, reason: str, why: str, summary: Summary, markers: Markers, request: Request
) -> Outcome:
    """A review not done because of who would pay for it, and where to say so: for an event, in
    the summary (keeping the commit last reviewed, so a later review covers everything since);
    for a command, in a reply to it, so that a command from someone else cannot rewrite the
    summary of a pull request that was reviewed."""
    if request.asked_by is not None:
        return Outcome(status, reason, reply=f"**Not reviewed:** {why}.")
    body = not_reviewed(markers, summary.state.head, why, summary.state.paused)
    return Outcome(status, reason, summary=body)


async def _moved(
    services: Services, ref: PullRef, pull: PullRequest, asker: str, asked_at: float | None
) -> bool:
    """Whether the pull request may have moved on from what someone other than its author saw
    when they asked for a review: the queue received a push to it after the command.

    The command's payload does not carry the head it was given on
    (https://docs.github.com/en/webhooks/webhook-events-and-payloads#issue_comment), and no API
    tells when a commit was pushed, so the order in which the queue received the two deliveries
    is the record. A push delivered before the command counts as one the asker could see, and
    one delivered after it as one they could not (the review then waits for a new command)."""
    if asked_at is None or services.pushes is None or asker.casefold() == pull.author.casefold():
        return False
    pushes = services.pushes
    return await asyncio.to_thread(pushes.pushed_since, ref.owner, ref.repo, ref.number, asked_at)


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
