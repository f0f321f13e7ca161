"""What people made of the bot's inline comments: 👍 and 👎 on each, which ones they answered,
and which threads they resolved, read from the comments and threads the bot itself started."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.adapters.github.errors import GitHubError
from bot.adapters.github.pulls import PullRef, pulls_path
from bot.adapters.github.reader import PullReader

_MAX_THREAD_PAGES = 10  # pages of 100 review threads read for resolutions


@dataclass(frozen=True, slots=True)
class CommentFeedback:
    """One of the bot's inline comments as GitHub lists it now: the fingerprint in its marker,
    its file, the 👍 and 👎 counts of its reaction summary, its body, whether anyone but the
    bot replied in its thread (`answered`), and where it sits on the pull request's head now
    (`line` and `side`; no line once the code it was on changed: GitHub calls it outdated)."""

    fingerprint: str
    path: str
    thumbs_up: int
    thumbs_down: int
    body: str
    answered: bool = False
    line: int | None = None
    side: str | None = None


class FeedbackReader(PullReader):
    """The bot's earlier inline comments with their reactions and resolutions."""

    async def review_comment_fingerprints(self, ref: PullRef) -> set[str]:
        """The fingerprints of the bot's earlier inline comments, so none is made twice."""
        return {found.fingerprint for found in await self.review_comment_feedback(ref)}

    async def review_comment_feedback(self, ref: PullRef) -> list[CommentFeedback]:
        """The bot's earlier inline comments that end in a verified fingerprint: its file, body,
        the 👍 / 👎 counts of the `reactions` summary GitHub puts on each comment, and whether
        someone other than the bot replied to it (a reply's `in_reply_to_id` names the thread's
        first comment).
        https://docs.github.com/en/rest/pulls/comments#list-review-comments-on-a-pull-request"""
        self._login()
        markers = self.markers(ref)
        found: list[CommentFeedback] = []
        ids: list[object] = []
        replied: set[object] = set()
        async for comment in self._session.paged(f"{pulls_path(ref)}/comments"):
            if not self._by_bot(comment):
                if comment.get("in_reply_to_id") is not None:
                    replied.add(comment["in_reply_to_id"])
                continue
            body = str(comment.get("body") or "")
            fingerprint = markers.fingerprint(body)
            if fingerprint is None:
                continue
            reactions = comment.get("reactions")
            counts = reactions if isinstance(reactions, dict) else {}
            found.append(
                CommentFeedback(
                    fingerprint=fingerprint,
                    path=str(comment.get("path") or ""),
                    thumbs_up=_count(counts.get("+1")),
                    thumbs_down=_count(counts.get("-1")),
                    body=body,
                    line=_line(comment.get("line")),
                    side=str(comment.get("side") or "RIGHT"),
                )
            )
            ids.append(comment.get("id"))
        return [
            replace(c, answered=True) if ident in replied else c
            for c, ident in zip(found, ids, strict=True)
        ]

    async def resolved_fingerprints(self, ref: PullRef) -> set[str]:
        """The fingerprints of the bot's inline comments whose review thread is resolved: the
        markers in the first comment of each resolved thread the bot started (up to 1,000
        threads). GraphQL names an App by its slug, without REST's `[bot]`.
        https://docs.github.com/en/graphql/reference/objects#pullrequestreviewthread"""
        login = self._login().removesuffix("[bot]")
        markers = self.markers(ref)
        found: set[str] = set()
        cursor: str | None = None
        for _ in range(_MAX_THREAD_PAGES):
            variables = {
                "owner": ref.owner,
                "name": ref.repo,
                "number": ref.number,
                "cursor": cursor,
            }
            data = await self._session.json(
                "POST",
                self._session.graphql,
                json={"query": _RESOLVED_QUERY, "variables": variables},
                idempotent=True,  # a query changes nothing
            )
            threads = _review_threads(data, ref)
            for thread in threads.get("nodes") or []:
                if not isinstance(thread, dict) or thread.get("isResolved") is not True:
                    continue
                for comment in (thread.get("comments") or {}).get("nodes") or []:
                    author = (comment.get("author") or {}).get("login")
                    fingerprint = markers.fingerprint(str(comment.get("body") or ""))
                    if author in (login, self.bot_login) and fingerprint is not None:
                        found.add(fingerprint)
            page = threads.get("pageInfo") or {}
            cursor = page.get("endCursor")
            if not page.get("hasNextPage") or not cursor:
                break
        return found


_RESOLVED_QUERY = """
query($owner: String!, $name: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $cursor) {
        pageInfo { hasNextPage endCursor }
        nodes { isResolved comments(first: 1) { nodes { body author { login } } } }
      }
    }
  }
}
"""


def _review_threads(data: Any, ref: PullRef) -> dict[str, Any]:
    """The `reviewThreads` connection of a GraphQL answer; GitHubError for its `errors`."""
    if not isinstance(data, dict):
        raise GitHubError(f"unexpected GraphQL answer for {ref}")
    if data.get("errors"):
        messages = "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in data["errors"]
        )
        raise GitHubError(f"GitHub GraphQL refused the review threads of {ref}: {messages}")
    try:
        threads = data["data"]["repository"]["pullRequest"]["reviewThreads"]
    except (KeyError, TypeError):
        raise GitHubError(f"GitHub has no review threads for {ref}") from None
    if not isinstance(threads, dict):
        raise GitHubError(f"GitHub has no review threads for {ref}")
    return threads


def _line(value: object) -> int | None:
    """A comment's line on the head now; None when GitHub gives none (the comment is outdated)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _count(value: object) -> int:
    """A reaction count from GitHub's summary; 0 when missing or not a count."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
