"""A queued job carried out: a review, a slash command, a reply in the bot's thread, a notice.

`request_for` turns a review job or a `/review` (or `/ask`) command into the pipeline's one
`Request`; every face that starts from a job (the App's worker, `tierbot replay`, the Action)
uses it, so a command means the same everywhere. The answers to `/ask` and to replies in the
bot's threads are in bot.pipeline.answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.adapters.github import GitHubError, PullRef
from bot.core.cost import format_usd
from bot.core.counts import counted
from bot.core.job import Job
from bot.core.markdown.safe import code_span, plain_text
from bot.core.markers import SUMMARY_MARKER, SummaryState
from bot.core.routing import Task, Tier
from bot.core.summary import COMMANDS_HELP
from bot.core.trust import may_write
from bot.pipeline.allowance import month_start
from bot.pipeline.answer import answer, quote, thread_reply
from bot.pipeline.posting import review_pull
from bot.pipeline.prepare import (
    ASK_A_MAINTAINER,
    Prepared,
    not_reviewed,
    prepare,
    read_summary,
)
from bot.pipeline.request import Outcome, Request, Status
from bot.pipeline.services import GitHubClient, Retry, Services

_REFUSED = (
    "Sorry {user}, {command} spends frontier-model money or changes how this pull request "
    "is reviewed, so it needs write access to the repository."
)


def request_for(job: Job, queued_at: float | None = None) -> Request | None:
    """The pipeline request a job makes: a review job's, or a `/review` or `/ask` command's
    (with who asked, and when it was queued: `queued_at`); None for work that needs no model."""
    ref = PullRef(job.owner, job.repo, job.number)
    if job.kind == "review":
        return Request(ref, trigger=job.trigger, installation_id=job.installation_id)
    if job.kind != "command":
        return None
    name = str(job.payload.get("command", "help"))
    args = [str(a) for a in job.payload.get("args", [])]
    association = job.payload.get("author_association")
    asker = (
        str(job.payload.get("user", "")),
        association if isinstance(association, str) else None,
    )
    if name == "ask":
        return Request(
            ref,
            trigger="/ask",
            full=True,
            forced=True,
            installation_id=job.installation_id,
            asked_by=asker,
            task=Task.ASK,
        )
    if name != "review":
        return None
    override = Tier.LOCAL if "--local" in args else Tier.FRONTIER if "--frontier" in args else None
    # Plain `/review` reviews what changed since the last review; only `full` or a chosen tier
    # (which need write access) review an already reviewed commit again.
    return Request(
        ref,
        trigger="/review",
        full="full" in args,
        override=override,
        forced="full" in args or override is not None,
        installation_id=job.installation_id,
        asked_by=asker,
        asked_at=queued_at,
    )


async def run(
    job: Job,
    services: Services,
    *,
    queued_at: float | None = None,
    prepared: Prepared | Outcome | None = None,
) -> Outcome:
    """Carry out one job. `prepared` is what `prepare` already made of the job's request
    (`request_for`), when a face prepared it to decide where to run it (the Action). Raises
    Retry for transient failures, by their kind: any GitHub request (the installation token's
    included) that found GitHub unreachable, slow, failing (5xx) or rate limiting
    (`GitHubError.transient`), and a review whose every part failed for a passing reason
    (`ReviewResult.transient`)."""
    ref = PullRef(job.owner, job.repo, job.number)
    try:
        github = await services.github_for(job.installation_id)
        if job.kind == "review":
            request = request_for(job)
            assert request is not None
            return await review_pull(github, request, services, prepared)
        if job.kind == "command":
            return await _command(github, job, services, queued_at, prepared)
        if job.kind == "reply":
            return await thread_reply(github, ref, job.payload, services, job.installation_id)
        if job.kind == "notice":
            return await post_notice(github, ref, job.payload)
    except GitHubError as exc:
        if exc.transient:
            raise Retry(str(exc), exc.retry_at) from exc
        raise
    return Outcome(Status.IGNORED, f"unknown job kind {job.kind!r}")


async def report_failure(job: Job, services: Services, reason: str) -> None:
    """Say on the pull request that a job failed for good, and why."""
    github = await services.github_for(job.installation_id)
    ref = PullRef(job.owner, job.repo, job.number)
    summary = await read_summary(github, ref)
    text = (
        f"## tierbot review\n\n**This pull request was not reviewed:** "
        f"{plain_text(reason)}.\nNothing here means the change is fine; comment `/review` to try "
        "again.\n"
    )
    body = github.markers(ref).summary_body(text, summary.state)
    await github.upsert_comment(ref, SUMMARY_MARKER, body, known=summary.found)


async def _command(
    github: GitHubClient,
    job: Job,
    services: Services,
    queued_at: float | None,
    prepared: Prepared | Outcome | None,
) -> Outcome:
    ref = PullRef(job.owner, job.repo, job.number)
    payload = job.payload
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
        return Outcome(Status.REFUSED, "no write access")
    request = request_for(job, queued_at)
    if name == "review" and request is not None:
        return await review_pull(github, request, services, prepared)
    if name == "ask" and request is not None:
        question = str(args[0]) if args else ""
        text = await answer(github, request, question, services, "", prepared)
        await github.reply(ref, f"{quote(question)}\n\n{text}")
        return Outcome(Status.REPLIED, "/ask")
    if name == "route":
        return await _route_command(github, ref, services, job.installation_id, (user, association))
    if name in ("pause", "resume"):
        return await _pause(github, ref, paused=name == "pause")
    if name == "cost":
        await github.reply(ref, await _cost_text(ref, services))
        return Outcome(Status.REPLIED, "/cost")
    await github.reply(ref, "tierbot commands:\n\n" + COMMANDS_HELP)
    return Outcome(Status.REPLIED, "help")


async def _route_command(
    github: GitHubClient,
    ref: PullRef,
    services: Services,
    installation_id: int | None,
    asker: tuple[str, str | None],
) -> Outcome:
    """`/route`: the decision a `/review full` by the asker would get, on the whole pull
    request (what their access allows, within the budget), without running a model."""
    request = Request(
        ref,
        trigger="/route",
        full=True,
        forced=True,
        dry_run=True,
        installation_id=installation_id,
        asked_by=asker,
    )
    prepared = await prepare(github, request, services)
    decision = prepared.decision
    if decision is None:
        assert isinstance(prepared, Outcome)  # a Prepared always has its decision
        await github.reply(
            ref, f"This pull request cannot be routed: {plain_text(prepared.reason)}."
        )
        return Outcome(Status.REPLIED, "nothing to route")
    lines = [
        f"This pull request would be reviewed by the **{decision.tier}** model "
        f"`{decision.model}` (complexity {decision.score}/100):",
        "",
        *(f"- {plain_text(reason)}" for reason in decision.reasons),
    ]
    if decision.error:
        lines += ["", f"It cannot be reviewed now: {plain_text(decision.error)}."]
    await github.reply(ref, "\n".join(lines))
    return Outcome(Status.REPLIED, f"route {decision.tier}", decision=decision)


async def _pause(github: GitHubClient, ref: PullRef, *, paused: bool) -> Outcome:
    markers = github.markers(ref)
    summary = await read_summary(github, ref)
    fresh = "## tierbot review\n\nNot reviewed yet.\n"
    text = markers.read_summary(summary.found[1])[1] if summary.found else fresh
    body = markers.summary_body(text, SummaryState(summary.state.head, paused))
    await github.upsert_comment(ref, SUMMARY_MARKER, body, known=summary.found)
    word = "paused" if paused else "resumed"
    reply = f"Automatic reviews on this pull request are {word}." + (
        " Comment `/resume` to turn them back on." if paused else ""
    )
    await github.reply(ref, reply)
    return Outcome(Status.DONE, word, summary=body, reply=reply)


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


async def post_notice(github: GitHubClient, ref: PullRef, payload: Mapping[str, Any]) -> Outcome:
    """Tell the pull request that a cap refused work (bot.core.caps): for a review, its summary
    says it was not reviewed and why (keeping the commit last reviewed, so a later review
    covers everything since); for a command, one reply. The reason is bot.core.caps' own safe
    Markdown (`Refusal.text`), carried in the job's payload."""
    reason = str(payload.get("reason", "an hourly cap was reached"))
    if payload.get("work") == "review":
        summary = await read_summary(github, ref)
        why = f"{reason}; {ASK_A_MAINTAINER}"
        state = summary.state
        text = not_reviewed(github.markers(ref), state.head, why, state.paused)
        await github.upsert_comment(ref, SUMMARY_MARKER, text, known=summary.found)
        return Outcome(Status.NOTICED, f"review not done ({reason})", summary=text)
    reply = (
        f"Not carried out: {reason}. Until the hour is over, further commands from "
        f"{code_span(str(payload.get('user', '')))} on this repository are not carried out, "
        "and this is the only reply about them."
    )
    await github.reply(ref, reply)
    return Outcome(Status.NOTICED, f"command not carried out ({reason})", reply=reply)
