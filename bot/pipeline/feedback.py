"""The feedback on the bot's inline comments, for the ledger: reactions, resolved threads and
committed suggestions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection
from typing import TYPE_CHECKING

from bot.adapters.github import CommentFeedback, PullRef
from bot.core.diff import ChangeSet
from bot.pipeline.services import FeedbackSource, GitHubClient, Services

if TYPE_CHECKING:  # the ledger (SQLAlchemy) loads only in processes that keep one
    from bot.adapters.ledger import Ledger

_SUGGESTION = re.compile(r"^```suggestion[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


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
        lambda: record_feedback(ledger, repo, ref.number, earlier, None, resolved)
    )


def record_feedback(
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
