"""Answers: `/ask` questions and replies in the bot's own review threads, on the change that
`prepare` found and the decision it made for the question."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from bot.adapters.github import PullRef
from bot.core.cost import format_usd
from bot.core.markdown.safe import code_span, plain_text, safe_markdown
from bot.core.routing import Task
from bot.core.secrets.redaction import redact_text
from bot.pipeline.posting import count_requests, spend_of
from bot.pipeline.prepare import Prepared, prepare
from bot.pipeline.question import answer_question
from bot.pipeline.request import Outcome, Request, Status
from bot.pipeline.services import GitHubClient, Services


async def answer(
    github: GitHubClient,
    request: Request,
    question: str,
    services: Services,
    thread: str,
    prepared: Prepared | Outcome | None = None,
) -> str:
    """The answer to post, or why there is none; never an empty success. `request.asked_by`
    is who asked: without write access, the untrusted policy applies. `prepared` is what
    `prepare` already made of `request`, if anything."""
    ref = request.ref
    if prepared is None:
        prepared = await prepare(github, request, services)
    if isinstance(prepared, Outcome):
        if prepared.status is Status.REFUSED:
            return (
                "Questions are answered for people with write access only on this repository "
                "(its settings say `review.untrusted_authors: none`)."
            )
        return f"I cannot answer: {plain_text(prepared.reason)}."
    reply = await answer_question(
        prepared.change.kept,
        question,
        prepared.decision,
        prepared.backends,
        prepared.repo,
        thread=thread,
    )
    if reply.failed and not reply.text:
        return f"I could not answer: {plain_text(reply.failed)}."
    spend = spend_of(reply.attempts, services)
    if services.metrics is not None:
        count_requests(services.metrics, reply.attempts, spend)
    if services.ledger is not None and reply.attempts:
        ledger = services.ledger
        await asyncio.to_thread(
            lambda: ledger.record_request(
                repo=f"{ref.owner}/{ref.repo}",
                number=ref.number,
                attempts=reply.attempts,
                spend=spend,
                installation_id=request.installation_id,
            )
        )
    names = reply.guidance.names
    following = (
        f", following the maintainers' guidance in {', '.join(code_span(n) for n in names)}"
        if names
        else ""
    )
    return (
        f"{reply.text}\n\n<sub>Answered by the {reply.tier} model `{reply.model}` for "
        f"{format_usd(spend.spent_usd)}{following}.</sub>"
    )


async def thread_reply(
    github: GitHubClient,
    ref: PullRef,
    payload: Mapping[str, Any],
    services: Services,
    installation_id: int | None = None,
) -> Outcome:
    """Answer a reply in a review thread, but only in the bot's own threads."""
    root_id = payload.get("in_reply_to_id")
    comment_id = payload.get("comment_id")
    if not isinstance(root_id, int):
        return Outcome(Status.IGNORED, "not a reply in a thread")
    root = await github.review_comment(ref.owner, ref.repo, root_id)
    author = str((root.get("user") or {}).get("login", ""))
    if github.bot_login is None or author != github.bot_login:
        return Outcome(Status.IGNORED, "a thread the bot did not start")
    question = str(payload.get("question", "")).strip()
    if not question:
        return Outcome(Status.IGNORED, "an empty reply")
    where = f"{root.get('path')}:{root.get('line') or root.get('original_line')}"
    thread = f"The bot's comment on {where}:\n{root.get('body', '')}"
    association = payload.get("author_association")
    asker = (str(payload.get("user", "")), association if isinstance(association, str) else None)
    request = Request(
        ref,
        trigger="reply",
        full=True,
        forced=True,
        installation_id=installation_id,
        asked_by=asker,
        task=Task.ASK,
    )
    text = await answer(github, request, question, services, thread)
    await github.reply_in_thread(ref, root_id, text)
    to = f" to {comment_id}" if isinstance(comment_id, int) else ""
    return Outcome(Status.REPLIED, f"in thread {root_id}{to}", reply=text)


def quote(text: str) -> str:
    """The first line of a question (200 characters at most, its secrets redacted) as safe
    Markdown, each of its lines made a quote."""
    first = redact_text(text).strip().split("\n", 1)[0]
    safe = safe_markdown(first[:200] + ("…" if len(first) > 200 else ""))
    return "\n".join(f"> {line}" if line else ">" for line in safe.split("\n"))
