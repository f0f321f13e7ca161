"""The only module that talks to GitHub: pull requests, diffs, files, reviews and comments.

Built on githubkit, with its own retries off (they wait inside the call, up to an hour on a
primary rate limit). Ours are bounded instead: 5xx answers and lost connections are retried twice
with a short backoff (never for a POST that could create something twice), rate limits are waited
out per `retry-after` / `x-ratelimit-reset` only while the call's total wait stays under a cap, and
beyond it the GitHubError says when to try again (`retry_at`); every GitHubError says whether it
is `transient`, so that the job can be tried again later (bot.adapters.queue). Writes from one
client are at least a second apart, as GitHub asks of integrations. A diff GitHub refuses as too
large (406) is rebuilt from the paged file list, where binary and huge files come without a patch.

`GitHubApp` signs JWTs with the App's key and hands out one `GitHub` client per installation,
whose installation token is cached until five minutes before it expires.

The bot keeps its state in its own comments, in signed hidden markers (bot.review.markers): a
header that opens the summary comment and a trailer that ends each inline comment. State is read
only from comments whose author is the bot's login (`bot_login`), and never without knowing it.

Every body the client posts or edits is read as GitHub renders it first (bot.review.markdown):
one with an image, raw HTML other than the bot's own markers and small print, a live mention,
an issue reference or marker text anywhere else is refused (`UnsafeBody`) before it is sent.
Reviews are always `COMMENT` reviews: the client has no way to approve, request changes, merge,
label or assign.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from githubkit import BaseAuthStrategy, TokenAuthStrategy, UnauthAuthStrategy
from githubkit import GitHub as _Kit
from githubkit.exception import RequestError, RequestFailed, RequestTimeout

from bot.reachability import Reachability
from bot.review.anchor import Comment
from bot.review.markers import OWN_HTML, Markers, is_marker_line
from bot.review.rendered import problems
from bot.review.secrets import scrub_bodies
from bot.trust import ROLES

DEFAULT_API_URL = "https://api.github.com"
TokenSource = Callable[[], Awaitable[str]]
_JSON = "application/vnd.github+json"
_DIFF = "application/vnd.github.diff"
_MAX_PAGES = 30  # 30 pages of 100: GitHub lists at most 3,000 files of a pull request
_RETRIES = 2  # for 5xx, lost connections and rate limits
_BACKOFF = 0.5  # seconds, doubled per retry of a 5xx or lost connection
_MAX_PROBES = 20  # pending reviews spent finding comments GitHub cannot place
_MAX_THREAD_PAGES = 10  # pages of 100 review threads read for resolutions
_TOKEN_MARGIN = 300.0  # renew an installation token five minutes before it expires
_REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
_PR_URL = re.compile(
    r"^https?://(?P<host>[^/]+)/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+)/pulls?/(?P<number>\d+)/?"
    r"(?:[#?/].*)?$"
)


class UnsafeBody(ValueError):
    """A body the bot was about to post that would render something it must never post."""


class GitHubError(Exception):
    """A GitHub request that failed; the message says what to do about it where we know.

    `retry_at` (epoch seconds) is set when GitHub said when to try again: a rate limit whose
    wait was longer than a call may block. `transient` says whether the same request may work
    later: GitHub unreachable or timing out, a 5xx, a 429 or a rate limit. By default it follows
    from the status and `retry_at`; a failure without an answer says so itself."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        retry_at: float | None = None,
        *,
        transient: bool | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.retry_at = retry_at
        if transient is None:
            transient = retry_at is not None or status == 429 or (status or 0) >= 500
        self.transient = transient


@dataclass(frozen=True, slots=True)
class PullRef:
    owner: str
    repo: str
    number: int

    def __str__(self) -> str:
        return f"{self.owner}/{self.repo}#{self.number}"


@dataclass(frozen=True, slots=True)
class PullRequest:
    ref: PullRef
    title: str
    body: str
    head_sha: str
    base_sha: str
    author: str
    author_association: str
    draft: bool
    state: str
    changed_files: int
    default_branch: str
    head_repo: str = ""
    """The head branch's repository (owner/name); another than the base's for a fork, and empty
    when that repository was deleted."""


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


@dataclass(frozen=True, slots=True)
class CommentFeedback:
    """One of the bot's inline comments as GitHub lists it now: the fingerprint in its marker,
    its file, the 👍 and 👎 counts of its reaction summary, and its body."""

    fingerprint: str
    path: str
    thumbs_up: int
    thumbs_down: int
    body: str


def parse_pull_url(url: str) -> PullRef:
    """`https://github.com/OWNER/REPO/pull/N` (or a GitHub Enterprise host) as a PullRef."""
    match = _PR_URL.match(url.strip())
    if match is None:
        raise GitHubError(f"not a pull request URL: {url!r} (expected …/OWNER/REPO/pull/NUMBER)")
    return PullRef(match["owner"], match["repo"], int(match["number"]))


class GitHub:
    """A GitHub REST client for one token, a token source (an installation) or none (public
    data only, 60 requests an hour).

    `bot_login` (`<slug>[bot]`) is whose comments hold the bot's state; without it no state is
    read. `marker_key` (bot.review.markers.marker_key) signs and checks the bot's markers;
    without it none are written or read.
    `accept_json` adds `application/json` to the Accept header of JSON requests, which a mock
    server that negotiates content strictly (Prism) needs; GitHub itself does not.
    `clock` (epoch seconds) and `sleep` are injectable for tests. `reachability`, when given,
    records whether each request got an answer.
    """

    def __init__(
        self,
        token: str | TokenSource | None = None,
        api_url: str = DEFAULT_API_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        bot_login: str | None = None,
        marker_key: bytes | None = None,
        accept_json: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_wait: float = 60.0,
        write_spacing: float = 1.0,
        reachability: Reachability | None = None,
    ) -> None:
        auth: BaseAuthStrategy
        if callable(token):
            auth = _SourceAuthStrategy(token)
        else:
            auth = TokenAuthStrategy(token) if token else UnauthAuthStrategy()
        self._kit = _Kit(
            auth,
            base_url=api_url.rstrip("/") + "/",
            async_transport=transport,
            timeout=timeout,
            auto_retry=False,
            http_cache=False,
        )
        self._authenticated = bool(token)
        # GitHub Enterprise serves REST under /api/v3 and GraphQL at /api/graphql.
        root = api_url.rstrip("/")
        self._graphql = (
            root.removesuffix("/api/v3") + "/api/graphql"
            if root.endswith("/api/v3")
            else "/graphql"
        )
        self.bot_login = bot_login
        self._marker_key = marker_key
        self._accept = f"{_JSON}, application/json" if accept_json else _JSON
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._write_spacing = write_spacing
        self._reachability = reachability
        self._write_lock = asyncio.Lock()
        self._last_write = -math.inf

    async def pull(self, ref: PullRef) -> PullRequest:
        data = await self._json("GET", _pulls(ref))
        return PullRequest(
            ref=ref,
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            head_sha=str(data["head"]["sha"]),
            base_sha=str(data["base"]["sha"]),
            author=str((data.get("user") or {}).get("login", "")),
            author_association=str(data.get("author_association", "NONE")),
            draft=bool(data.get("draft", False)),
            state=str(data.get("state", "")),
            changed_files=int(data.get("changed_files") or 0),
            default_branch=str(
                ((data.get("base") or {}).get("repo") or {}).get("default_branch") or "main"
            ),
            head_repo=str(((data["head"].get("repo")) or {}).get("full_name") or ""),
        )

    async def pull_diff(self, ref: PullRef) -> bytes:
        """The pull request's unified diff; rebuilt from its file list when GitHub says 406."""
        response = await self._request("GET", _pulls(ref), accept=_DIFF, allow=(406,))
        if response.status_code == 406:
            return await self._diff_from_files(ref)
        return response.content

    async def compare(self, owner: str, repo: str, base: str, head: str) -> bytes:
        """The diff from `base` to `head` (commits or refs), for reviewing only what a push added.

        404 (GitHubError) when `base` is gone, as after a force-push: review the whole PR then.
        https://docs.github.com/en/rest/commits/commits#compare-two-commits
        """
        path = f"/repos/{owner}/{repo}/compare/{base}...{head}"
        return (await self._request("GET", path, accept=_DIFF)).content

    async def file_text(self, owner: str, repo: str, path: str, ref: str) -> str | None:
        """A text file's content at `ref`, or None when it does not exist."""
        response = await self._request(
            "GET",
            f"/repos/{owner}/{repo}/contents/{path}",
            params={"ref": ref},
            accept="application/vnd.github.raw",
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        return response.content.decode("utf-8", errors="replace")

    def markers(self, ref: PullRef) -> Markers:
        """The signed markers of one pull request, with this client's key."""
        if self._marker_key is None:
            raise ValueError("this GitHub client has no marker key: it cannot read or write state")
        return Markers(self._marker_key, f"{ref.owner}/{ref.repo}", ref.number)

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
            response = await self._request(
                "POST",
                f"{_pulls(ref)}/reviews",
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
            reason = _github_message(response)
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

    async def find_comment(self, ref: PullRef, marker: str) -> tuple[int, str] | None:
        """The id and body of the bot's first issue comment on the PR whose first line is
        `marker` (comments by anyone else are never read for state).
        https://docs.github.com/en/rest/issues/comments#list-issue-comments"""
        self._login()
        path = f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"
        async for comment in self._paged(path):
            body = str(comment.get("body") or "")
            if self._by_bot(comment) and body.split("\n", 1)[0].strip() == marker:
                return int(comment["id"]), body
        return None

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
            await self._json("PATCH", url, json={"body": text})
        return found[0]

    async def reply(self, ref: PullRef, body: str) -> int:
        """A new comment on the pull request's conversation; its id."""
        _check(body)
        path = f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"
        return int((await self._json("POST", path, json={"body": body}))["id"])

    async def reply_in_thread(self, ref: PullRef, review_comment_id: int, body: str) -> int:
        """A reply in the thread of an inline review comment; its id.
        https://docs.github.com/en/rest/pulls/comments#create-a-reply-for-a-review-comment"""
        _check(body)
        path = f"{_pulls(ref)}/comments/{review_comment_id}/replies"
        return int((await self._json("POST", path, json={"body": body}))["id"])

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
        await self._request("POST", path, json={"content": content}, idempotent=True)

    async def review_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
        """One inline review comment (its author, body, path and line).
        https://docs.github.com/en/rest/pulls/comments#get-a-review-comment-for-a-pull-request"""
        found = await self._json("GET", f"/repos/{owner}/{repo}/pulls/comments/{comment_id}")
        if not isinstance(found, dict):
            raise GitHubError(f"unexpected answer for review comment {comment_id}")
        return found

    async def permission(self, owner: str, repo: str, login: str) -> str:
        """The user's role on the repo: admin, maintain, write, triage, read or none.

        `role_name` keeps maintain and triage, which the older `permission` field folds into
        write and read; a custom role counts as its base permission. 404 means none.
        https://docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user
        """
        path = f"/repos/{owner}/{repo}/collaborators/{login}/permission"
        response = await self._request("GET", path, allow=(404,))
        if response.status_code == 404:
            return "none"
        data = response.json()
        role, base = data.get("role_name"), data.get("permission")
        return str(role) if role in ROLES else str(base) if base in ROLES else "none"

    async def review_comment_fingerprints(self, ref: PullRef) -> set[str]:
        """The fingerprints of the bot's earlier inline comments, so none is made twice."""
        return {found.fingerprint for found in await self.review_comment_feedback(ref)}

    async def review_comment_feedback(self, ref: PullRef) -> list[CommentFeedback]:
        """The bot's earlier inline comments that end in a verified fingerprint: its file, body
        and the 👍 / 👎 counts of the `reactions` summary GitHub puts on each comment.
        https://docs.github.com/en/rest/pulls/comments#list-review-comments-on-a-pull-request"""
        self._login()
        markers = self.markers(ref)
        found: list[CommentFeedback] = []
        async for comment in self._paged(f"{_pulls(ref)}/comments"):
            if not self._by_bot(comment):
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
                )
            )
        return found

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
            data = await self._json(
                "POST",
                self._graphql,
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

    async def workflow_runs(
        self, owner: str, repo: str, workflow: str, *, since: datetime, enough: int
    ) -> list[dict[str, Any]]:
        """The runs of one workflow (its file name) created since `since`, newest first, until
        they run out or `enough` are listed (a caller counting against a cap needs no more).
        GitHub lists runs newest first; paging stops at the first run older than `since`
        (its `created` filter takes search syntax, `>=DATE`, which GitHub's OpenAPI description
        does not allow). The token needs `actions: read`.
        https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow"""
        path = f"/repos/{owner}/{repo}/actions/workflows/{workflow}/runs"
        found: list[dict[str, Any]] = []
        for page in range(1, _MAX_PAGES + 1):
            data = await self._json("GET", path, params={"per_page": 100, "page": page})
            runs = data.get("workflow_runs") if isinstance(data, dict) else None
            if not isinstance(runs, list):
                raise GitHubError(f"unexpected answer listing the runs of {workflow}")
            for run in runs:
                if not isinstance(run, dict):
                    continue
                created = _instant(run.get("created_at"))
                if created is not None and created < since:
                    return found
                found.append(run)
            if len(runs) < 100 or len(found) >= enough:
                break
        return found

    async def bot_comments_since(
        self, owner: str, repo: str, since: datetime, *, pages: int = 5
    ) -> list[str]:
        """The bodies of the bot's issue and pull request comments on the repo updated since
        `since`, newest first, from the first `pages` pages of 100 (a bound on a busy repo).
        https://docs.github.com/en/rest/issues/comments#list-issue-comments-for-a-repository"""
        path = f"/repos/{owner}/{repo}/issues/comments"
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found: list[str] = []
        for page in range(1, pages + 1):
            params = {
                "since": stamp,
                "sort": "updated",
                "direction": "desc",
                "per_page": 100,
                "page": page,
            }
            items = await self._json("GET", path, params=params)
            if not isinstance(items, list):
                raise GitHubError(f"unexpected answer listing the comments of {owner}/{repo}")
            found += [
                str(item.get("body") or "")
                for item in items
                if isinstance(item, dict) and self._by_bot(item)
            ]
            if len(items) < 100:
                break
        return found

    def _login(self) -> str:
        if self.bot_login is None:
            raise ValueError("the bot's login is unknown: its own comments cannot be told apart")
        return self.bot_login

    def _by_bot(self, item: dict[str, Any]) -> bool:
        return (item.get("user") or {}).get("login") == self._login()

    async def _probe(
        self, ref: PullRef, head_sha: str, body: str, comments: Sequence[Comment]
    ) -> str | None:
        """None when GitHub accepts this review as pending (deleted at once), else its reason."""
        path = f"{_pulls(ref)}/reviews"
        markers = self.markers(ref)
        json = {
            "commit_id": head_sha,
            "body": body,
            "comments": [_comment_json(c, markers) for c in comments],
        }
        response = await self._request("POST", path, json=json, allow=(422,))
        if response.status_code == 422:
            reason = _github_message(response)
            if "pending review" in reason.lower():  # one per user and PR: ours, left by a crash?
                raise GitHubError(f"GitHub refused a pending review on {ref}: {reason}", 422)
            return reason
        # https://docs.github.com/en/rest/pulls/reviews#delete-a-pending-review-for-a-pull-request
        await self._request("DELETE", f"{path}/{response.json()['id']}")
        return None

    async def _diff_from_files(self, ref: PullRef) -> bytes:
        out = [_file_diff(entry) async for entry in self._paged(f"{_pulls(ref)}/files")]
        return "".join(out).encode("utf-8", errors="surrogateescape")

    async def _paged(self, path: str) -> AsyncIterator[dict[str, Any]]:
        for page in range(1, _MAX_PAGES + 1):
            items = await self._json("GET", path, params={"per_page": 100, "page": page})
            if not isinstance(items, list):
                raise GitHubError(f"unexpected answer listing {path}")
            for item in items:
                yield item
            if len(items) < 100:
                return

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._request(method, path, **kwargs)).json()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        accept: str | None = None,
        allow: Collection[int] = (),
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One call with bounded retries; an answer whose status is in `allow` is returned."""
        safe = method != "POST" if idempotent is None else idempotent
        headers = {"Accept": accept or self._accept}
        waited = 0.0
        for attempt in range(_RETRIES + 1):
            try:
                response = await self._send(method, path, params, json, headers)
            except RequestFailed as exc:
                response = exc.response.raw_response
                if response.status_code in allow:
                    return response
                error = self._error(exc, path)
                if error.retry_at is not None:
                    delay: float | None = max(error.retry_at - self._clock(), 0.0)
                elif response.status_code >= 500 and safe:
                    delay = _BACKOFF * 2**attempt
                else:
                    delay = None
            except RequestError as exc:
                if isinstance(exc.exc, GitHubError):
                    raise exc.exc from None
                error = self._error(exc, path)
                delay = _BACKOFF * 2**attempt if safe else None
            else:
                self._record(None)
                return response
            self._record(error)
            if delay is None or attempt == _RETRIES:
                raise error
            if waited + delay > self._max_wait:
                raise GitHubError(
                    f"{error}; not waiting {delay:.0f} s",
                    error.status,
                    error.retry_at,
                    transient=error.transient,
                )
            await self._sleep(delay)
            waited += delay
        raise AssertionError("unreachable")

    def _record(self, error: GitHubError | None) -> None:
        """Tell `reachability` whether GitHub answered: any answer but a 5xx counts."""
        if self._reachability is not None:
            unreachable = error is not None and (error.status is None or error.status >= 500)
            self._reachability.record(str(error) if unreachable else None)

    async def _send(
        self, method: str, path: str, params: Any, json: Any, headers: dict[str, str]
    ) -> httpx.Response:
        """Send once; writes wait until a second after the previous write ended.
        https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#pause-between-mutative-requests
        """
        if method == "GET":
            response = await self._kit.arequest(method, path, params=params, headers=headers)
            return response.raw_response
        json = scrub_bodies(json)  # the last check that no secret is posted
        async with self._write_lock:
            wait = self._last_write + self._write_spacing - self._clock()
            if wait > 0:
                await self._sleep(min(wait, self._write_spacing))
            try:
                response = await self._kit.arequest(
                    method, path, params=params, json=json, headers=headers
                )
                return response.raw_response
            finally:
                self._last_write = self._clock()

    def _error(self, exc: RequestError[Any], path: str) -> GitHubError:
        if isinstance(exc, RequestTimeout):
            return GitHubError(f"GitHub did not answer in time for {path}", transient=True)
        if isinstance(exc, RequestFailed):
            response = exc.response.raw_response
            status, message = response.status_code, _github_message(response)
            headers = response.headers
            if status in (403, 429) and (
                "retry-after" in headers
                or headers.get("x-ratelimit-remaining") == "0"
                or "rate limit" in message.lower()
            ):
                # https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#handle-rate-limit-errors-appropriately
                now = self._clock()
                if headers.get("retry-after", "").isdigit():
                    retry_at = now + int(headers["retry-after"])
                elif headers.get("x-ratelimit-reset", "").isdigit():
                    retry_at = max(float(headers["x-ratelimit-reset"]), now + 1.0)
                else:
                    retry_at = now + 60.0  # GitHub: wait at least a minute
                reset = headers.get("x-ratelimit-reset") or f"{retry_at:.0f}"
                hint = "" if self._authenticated else "; set GITHUB_TOKEN for a higher limit"
                return GitHubError(
                    f"GitHub rate limit reached (resets at epoch {reset}){hint}", status, retry_at
                )
            if status == 404:
                hint = "" if self._authenticated else " (private? set GITHUB_TOKEN)"
                return GitHubError(f"not found on GitHub: {path}{hint}", status)
            if status in (401, 403):
                return GitHubError(f"GitHub refused {path}: {status} {message}", status)
            return GitHubError(f"GitHub answered {status} for {path}: {message}", status)
        return GitHubError(f"could not reach GitHub for {path}: {exc.exc}", transient=True)


class GitHubApp:
    """A GitHub App: JWTs from its private key, and a client per installation.

    Installation tokens last an hour; each is cached until five minutes before it expires and
    renewed on the next call after that, so a long job never sends a stale one. `marker_key`
    (from the webhook secret: bot.review.markers.marker_key) signs and checks the markers of
    every installation's client.
    https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-an-installation-access-token-for-a-github-app
    """

    def __init__(
        self,
        app_id: int | str,
        private_key_pem: str,
        api_url: str = DEFAULT_API_URL,
        *,
        marker_key: bytes,
        transport: httpx.AsyncBaseTransport | None = None,
        accept_json: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        slug: str | None = None,
        reachability: Reachability | None = None,
    ) -> None:
        self._marker_key = marker_key
        pem = private_key_pem if "\n" in private_key_pem else private_key_pem.replace("\\n", "\n")
        try:
            key = load_pem_private_key(pem.strip().encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise GitHubError(
                f"the GitHub App private key is not a usable PEM key: {exc}"
            ) from None
        if not isinstance(key, RSAPrivateKey):
            raise GitHubError("the GitHub App private key is not an RSA key")
        self._key, self._app_id = key, str(app_id)
        self._options: dict[str, Any] = {
            "transport": transport,
            "accept_json": accept_json,
            "clock": clock,
            "sleep": sleep,
            "reachability": reachability,
        }
        self._clock = clock
        self._api = GitHub(self._jwt, api_url, write_spacing=0.0, **self._options)
        self._api_url = api_url
        self._tokens: dict[int, tuple[str, float]] = {}
        self._token_locks: dict[int, asyncio.Lock] = {}
        self._clients: dict[int, GitHub] = {}
        self._slug = slug

    @property
    def known_slug(self) -> str | None:
        """The slug if it is known (given, or fetched once), without asking GitHub."""
        return self._slug

    async def slug(self) -> str:
        """The App's slug (given, or asked of GitHub once); its comments are by `<slug>[bot]`.
        https://docs.github.com/en/rest/apps/apps#get-the-authenticated-app"""
        if self._slug is None:
            self._slug = str((await self._api._json("GET", "/app"))["slug"])
        return self._slug

    async def installation(self, installation_id: int) -> GitHub:
        """The client for one installation (the same one each time, so its writes stay spaced);
        fails here when the installation is gone or the App's credentials are wrong."""
        await self._token(installation_id)
        client = self._clients.get(installation_id)
        if client is None:
            source = functools.partial(self._token, installation_id)
            login = f"{await self.slug()}[bot]"
            client = GitHub(
                source,
                self._api_url,
                bot_login=login,
                marker_key=self._marker_key,
                **self._options,
            )
            self._clients[installation_id] = client
        return client

    async def _jwt(self) -> str:
        # Issued a minute in the past against clock drift; ten minutes is GitHub's maximum.
        # https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
        now = int(self._clock())
        claims = {"iat": now - 60, "exp": now + 540, "iss": self._app_id}
        return jwt.encode(claims, self._key, algorithm="RS256")

    async def _token(self, installation_id: int) -> str:
        async with self._token_locks.setdefault(installation_id, asyncio.Lock()):
            cached = self._tokens.get(installation_id)
            if cached is not None and self._clock() < cached[1] - _TOKEN_MARGIN:
                return cached[0]
            path = f"/app/installations/{installation_id}/access_tokens"
            data = await self._api._json("POST", path, idempotent=True)
            try:
                expires = datetime.fromisoformat(str(data["expires_at"])).timestamp()
            except (KeyError, ValueError):
                expires = self._clock() + 3600.0  # GitHub's documented lifetime: one hour
            self._tokens[installation_id] = (str(data["token"]), expires)
            return str(data["token"])


class _SourceAuth(httpx.Auth):
    """Asks the source for a token on every request, so a renewed one is used at once."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self._source()}"
        yield request


@dataclass(frozen=True)
class _SourceAuthStrategy(BaseAuthStrategy):
    source: TokenSource

    def get_auth_flow(self, github: Any) -> httpx.Auth:
        return _SourceAuth(self.source)


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


def _pulls(ref: PullRef) -> str:
    return f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}"


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


def _instant(value: object) -> datetime | None:
    """An ISO 8601 time from GitHub (`2026-05-01T12:00:00Z`), or None when it is not one."""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _check(body: str) -> None:
    """Refuse to post a body that would render what the bot must never post, read as GitHub
    renders it (cmark-gfm; bot.review.rendered): only its marker lines (a header at the start, a
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


def _count(value: object) -> int:
    """A reaction count from GitHub's summary; 0 when missing or not a count."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _github_message(response: httpx.Response) -> str:
    """GitHub's message, with the details of a 422 (`errors`: strings or objects)."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(data, dict):
        return ""
    details = [
        str(e.get("message") or e.get("code") or "") if isinstance(e, dict) else str(e)
        for e in data.get("errors") or []
    ]
    message = str(data.get("message", ""))
    return "; ".join([message, *filter(None, details)]) if details else message


def _file_diff(entry: dict[str, Any]) -> str:
    """One file of GitHub's file list as a git diff entry."""
    name = str(entry["filename"])
    status = entry.get("status", "modified")
    old = str(entry.get("previous_filename") or name)
    lines = [f"diff --git a/{old} b/{name}\n"]
    if status == "added":
        lines.append("new file mode 100644\n")
    elif status == "removed":
        lines.append("deleted file mode 100644\n")
    elif status in ("renamed", "copied") and old != name:
        verb = "rename" if status == "renamed" else "copy"
        lines.append(f"{verb} from {old}\n{verb} to {name}\n")
    patch = entry.get("patch")
    if not patch:
        if int(entry.get("changes") or 0) or status in ("added", "removed", "modified"):
            source = "/dev/null" if status == "added" else f"a/{old}"
            target = "/dev/null" if status == "removed" else f"b/{name}"
            lines.append(f"Binary files {source} and {target} differ\n")
        return "".join(lines)
    source = "/dev/null" if status == "added" else f"a/{old}"
    target = "/dev/null" if status == "removed" else f"b/{name}"
    lines.append(f"--- {source}\n+++ {target}\n")
    lines.append(patch if patch.endswith("\n") else patch + "\n")
    return "".join(lines)
