"""The GitHub client: what the bot reads (bot.adapters.github.reader, .feedback) and what it
posts — one review with its inline comments, the summary comment edited in place, replies and
reactions.

Every body the client posts or edits is read as GitHub renders it first (bot.core.markdown.safe):
one with an image, raw HTML other than the bot's own markers and small print, a live mention,
an issue reference or marker text anywhere else is refused (`UnsafeBody`) before it is sent.
Reviews are always `COMMENT` reviews: the client has no way to approve, request changes, merge,
label or assign.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.adapters.github.errors import GitHubError, UnsafeBody, github_message
from bot.adapters.github.feedback import FeedbackReader
from bot.adapters.github.pulls import PullRef, pulls_path
from bot.core.anchor import Comment
from bot.core.markdown.rendered import problems
from bot.core.markers import OWN_HTML, Markers, is_marker_line

_MAX_PROBES = 20  # pending reviews spent finding comments GitHub cannot place
_REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


@dataclass(frozen=True, slots=True)
class DroppedComment:
    """An inline comment left out of a review because GitHub could not place it, and why."""

    comment: Comment
    reason: str


@dataclass(frozen=True, slots=True)
class PostedReview:
    """The review GitHub created: its id and page, the comments in it and those dropped."""

    review_id: int
    url: str
    posted: tuple[Comment, ...]
    dropped: tuple[DroppedComment, ...] = ()


class GitHub(FeedbackReader):
    """A GitHub REST client for one token, a token source (an installation) or none (public
    data only, 60 requests an hour).

    `bot_login` (`<slug>[bot]`) is whose comments hold the bot's state; without it no state is
    read. `marker_key` (bot.core.markers.marker_key) signs and checks the bot's markers;
    without it none are written or read.
    `accept_json` adds `application/json` to the Accept header of JSON requests, which a mock
    server that negotiates content strictly (Prism) needs; GitHub itself does not.
    `clock` (epoch seconds) and `sleep` are injectable for tests. `reachability`, when given,
    records whether each request got an answer. One HTTP client (and its connections) serves
    every request from the first until `aclose`, or the end of `async with`.
    """

    async def post_review(
        self, ref: PullRef, head_sha: str, body: str, comments: Sequence[Comment]
    ) -> PostedReview:
        """One `COMMENT` review of `head_sha` holding all inline comments, each ending in its
        signed fingerprint. The event is fixed: this client never approves or requests changes.

        GitHub refuses the whole review (422) when it cannot place one comment, without saying
        which. Then the review is probed as pending reviews (no `event`; each deleted at once,
        never seen by anyone): first without comments, to rule out the body and commit; then
        halving the comments not yet known to be placeable finds a bad one in log2(n) probes.
        It is dropped with GitHub's reason and the rest posted again; only one review is ever
        created. Past the probe budget, the comments not yet checked are dropped as well.
        https://docs.github.com/en/rest/pulls/reviews#create-a-review-for-a-pull-request
        """
        markers = self.markers(ref)
        _check(body)
        kept, dropped = list(comments), list[DroppedComment]()
        start = probes = 0  # kept[:start] are known to be placeable
        while True:
            response = await self._session.request(
                "POST",
                f"{pulls_path(ref)}/reviews",
                json={
                    "commit_id": head_sha,
                    "body": body,
                    "event": "COMMENT",
                    "comments": [_comment_json(c, markers) for c in kept],
                },
                allow=(422,),
            )
            if response.status_code != 422:
                data = response.json()
                url = str(data.get("html_url") or "")
                return PostedReview(int(data["id"]), url, tuple(kept), tuple(dropped))
            reason = github_message(response)
            refused = GitHubError(f"GitHub refused the review on {ref}: 422 {reason}", 422)
            if start == len(kept):
                raise refused
            if probes == 0:
                probes += 1
                if await self._probe(ref, head_sha, body, []) is not None:
                    raise refused
            lo, hi = start, len(kept)  # kept[lo:hi] holds a comment GitHub cannot place
            while hi - lo > 1 and probes < _MAX_PROBES:
                mid = (lo + hi) // 2
                probes += 1
                found = await self._probe(ref, head_sha, body, kept[lo:mid])
                lo, hi, reason = (mid, hi, reason) if found is None else (lo, mid, found)
            if hi - lo > 1:
                hi, reason = len(kept), f"not checked ({reason}): probe budget spent"
            dropped += [DroppedComment(c, reason) for c in kept[lo:hi]]
            del kept[lo:hi]
            start = lo

    async def upsert_comment(
        self, ref: PullRef, marker: str, body: str, *, known: tuple[int, str] | None = None
    ) -> int:
        """Edit the bot's issue comment that holds `marker`, or create it; its id.

        `known` is that comment (id, body) when the caller has just found it, which saves
        listing the PR's comments again. `body` starts with `marker` (its first line), or the
        marker is put before it, so the comment is found next time.
        https://docs.github.com/en/rest/issues/comments#update-an-issue-comment
        """
        text = body if body.split("\n", 1)[0].strip() == marker else f"{marker}\n{body}"
        _check(text)
        found = known if known is not None else await self.find_comment(ref, marker)
        if found is None:
            return await self.reply(ref, text)
        if found[1] != text:
            url = f"/repos/{ref.owner}/{ref.repo}/issues/comments/{found[0]}"
            await self._session.json("PATCH", url, json={"body": text})
        return found[0]

    async def reply(self, ref: PullRef, body: str) -> int:
        """A new comment on the pull request's conversation; its id."""
        _check(body)
        path = f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"
        return int((await self._session.json("POST", path, json={"body": body}))["id"])

    async def reply_in_thread(self, ref: PullRef, review_comment_id: int, body: str) -> int:
        """A reply in the thread of an inline review comment; its id.
        https://docs.github.com/en/rest/pulls/comments#create-a-reply-for-a-review-comment"""
        _check(body)
        path = f"{pulls_path(ref)}/comments/{review_comment_id}/replies"
        return int((await self._session.json("POST", path, json={"body": body}))["id"])

    async def add_reaction(
        self,
        owner: str,
        repo: str,
        comment_id: int,
        content: str = "eyes",
        *,
        review_comment: bool = False,
    ) -> None:
        """React to an issue comment (or an inline review comment); adding it twice is harmless.
        https://docs.github.com/en/rest/reactions/reactions#create-reaction-for-an-issue-comment"""
        if content not in _REACTIONS:
            raise ValueError(f"not a GitHub reaction: {content!r}")
        kind = "pulls" if review_comment else "issues"
        path = f"/repos/{owner}/{repo}/{kind}/comments/{comment_id}/reactions"
        await self._session.request("POST", path, json={"content": content}, idempotent=True)

    async def _probe(
        self, ref: PullRef, head_sha: str, body: str, comments: Sequence[Comment]
    ) -> str | None:
        """None when GitHub accepts this review as pending (deleted at once), else its reason."""
        path = f"{pulls_path(ref)}/reviews"
        markers = self.markers(ref)
        json = {
            "commit_id": head_sha,
            "body": body,
            "comments": [_comment_json(c, markers) for c in comments],
        }
        response = await self._session.request("POST", path, json=json, allow=(422,))
        if response.status_code == 422:
            reason = github_message(response)
            if "pending review" in reason.lower():  # one per user and PR: ours, left by a crash?
                raise GitHubError(f"GitHub refused a pending review on {ref}: {reason}", 422)
            return reason
        # https://docs.github.com/en/rest/pulls/reviews#delete-a-pending-review-for-a-pull-request
        await self._session.request("DELETE", f"{path}/{response.json()['id']}")
        return None


def _comment_json(comment: Comment, markers: Markers) -> dict[str, Any]:
    """An inline comment in the review API's terms: `line`/`side`, a range's start, and the
    body ending in its signed fingerprint."""
    body = comment.body
    if comment.fingerprint:
        body = f"{body}\n\n{markers.comment_trailer(comment.fingerprint)}"
    _check(body)
    out: dict[str, Any] = {
        "path": comment.path,
        "line": comment.line,
        "side": str(comment.side),
        "body": body,
    }
    if comment.start_line is not None and comment.start_line < comment.line:
        out |= {"start_line": comment.start_line, "start_side": str(comment.side)}
    return out


def _check(body: str) -> None:
    """Refuse to post a body that would render what the bot must never post, read as GitHub
    renders it (cmark-gfm; bot.core.markdown.rendered): only its marker lines (a header at the
    start, a
    trailer at the end) may be HTML comments, and only its own small print raw HTML.
    https://docs.github.com/en/get-started/writing-on-github/getting-started-with-writing-and-formatting-on-github/basic-writing-and-formatting-syntax#mentioning-people-and-teams
    """
    lines = body.split("\n")
    while lines and is_marker_line(lines[0].strip()):
        lines.pop(0)
    while lines and (is_marker_line(lines[-1].strip()) or not lines[-1].strip()):
        lines.pop()
    found = problems("\n".join(lines), allowed_html=OWN_HTML)
    if found:
        raise UnsafeBody("refused to post a body with " + "; ".join(dict.fromkeys(found)))
