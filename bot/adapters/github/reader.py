"""What the bot reads of a pull request and its repository: the pull request, its diff, files
and folders, roles, workflow runs, and the bot's own comments.

The bot keeps its state in its own comments, in signed hidden markers (bot.core.markers): a
header that opens the summary comment and a trailer that ends each inline comment. State is read
only from comments whose author is the bot's login (`bot_login`), and never without knowing it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import quote

import httpx

from bot.adapters.github.errors import GitHubError
from bot.adapters.github.pulls import PullRef, PullRequest, file_diff, pulls_path
from bot.adapters.github.session import DEFAULT_API_URL, MAX_PAGES, Session, TokenSource
from bot.adapters.github.trees import Tree, read_tree
from bot.adapters.reachability import Reachability
from bot.core.markers import Markers
from bot.core.trust import ROLES

_DIFF = "application/vnd.github.diff"


class PullReader:
    """The reading half of bot.adapters.github.GitHub (which documents the options), over one
    Session; `aclose` (or `async with`) closes its connections."""

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
        self._session = Session(
            token,
            api_url,
            transport=transport,
            timeout=timeout,
            accept_json=accept_json,
            clock=clock,
            sleep=sleep,
            max_wait=max_wait,
            write_spacing=write_spacing,
            reachability=reachability,
        )
        self.bot_login = bot_login
        self._marker_key = marker_key

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and its connections; a later request opens new ones."""
        await self._session.aclose()

    async def pull(self, ref: PullRef) -> PullRequest:
        data = await self._session.json("GET", pulls_path(ref))
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
        response = await self._session.request("GET", pulls_path(ref), accept=_DIFF, allow=(406,))
        if response.status_code == 406:
            return await self._diff_from_files(ref)
        return response.content

    async def compare(self, owner: str, repo: str, base: str, head: str) -> bytes:
        """The diff from `base` to `head` (commits or refs), for reviewing only what a push added.

        404 (GitHubError) when `base` is gone, as after a force-push: review the whole PR then.
        https://docs.github.com/en/rest/commits/commits#compare-two-commits
        """
        path = f"/repos/{owner}/{repo}/compare/{base}...{head}"
        return (await self._session.request("GET", path, accept=_DIFF)).content

    async def file_text(self, owner: str, repo: str, path: str, ref: str) -> str | None:
        """A text file's content at `ref`, or None when it does not exist."""
        response = await self._session.request(
            "GET",
            f"/repos/{owner}/{repo}/contents/{path}",
            params={"ref": ref},
            accept="application/vnd.github.raw",
            allow=(404,),
        )
        if response.status_code == 404:
            return None
        return response.content.decode("utf-8", errors="replace")

    async def tree(self, owner: str, repo: str, tree: str) -> Tree | None:
        """The names in one folder: `tree` is a branch (its top folder) or a folder's SHA from
        an earlier listing. None when there is none: 404 (no such branch or tree) or 409 (an
        empty repository); any other failure raises.
        https://docs.github.com/en/rest/git/trees#get-a-tree"""
        path = f"/repos/{owner}/{repo}/git/trees/{quote(tree, safe='')}"
        response = await self._session.request("GET", path, allow=(404, 409))
        if response.status_code in (404, 409):
            return None
        return read_tree(response.json(), f"{owner}/{repo} at {tree}")

    def markers(self, ref: PullRef) -> Markers:
        """The signed markers of one pull request, with this client's key."""
        if self._marker_key is None:
            raise ValueError("this GitHub client has no marker key: it cannot read or write state")
        return Markers(self._marker_key, f"{ref.owner}/{ref.repo}", ref.number)

    async def find_comment(self, ref: PullRef, marker: str) -> tuple[int, str] | None:
        """The id and body of the bot's first issue comment on the PR whose first line is
        `marker` (comments by anyone else are never read for state).
        https://docs.github.com/en/rest/issues/comments#list-issue-comments"""
        self._login()
        path = f"/repos/{ref.owner}/{ref.repo}/issues/{ref.number}/comments"
        async for comment in self._session.paged(path):
            body = str(comment.get("body") or "")
            if self._by_bot(comment) and body.split("\n", 1)[0].strip() == marker:
                return int(comment["id"]), body
        return None

    async def review_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
        """One inline review comment (its author, body, path and line).
        https://docs.github.com/en/rest/pulls/comments#get-a-review-comment-for-a-pull-request"""
        found = await self._session.json(
            "GET", f"/repos/{owner}/{repo}/pulls/comments/{comment_id}"
        )
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
        response = await self._session.request("GET", path, allow=(404,))
        if response.status_code == 404:
            return "none"
        data = response.json()
        role, base = data.get("role_name"), data.get("permission")
        return str(role) if role in ROLES else str(base) if base in ROLES else "none"

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
        for page in range(1, MAX_PAGES + 1):
            data = await self._session.json("GET", path, params={"per_page": 100, "page": page})
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
            items = await self._session.json("GET", path, params=params)
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

    async def _diff_from_files(self, ref: PullRef) -> bytes:
        out = [file_diff(entry) async for entry in self._session.paged(f"{pulls_path(ref)}/files")]
        return "".join(out).encode("utf-8", errors="surrogateescape")


def _instant(value: object) -> datetime | None:
    """An ISO 8601 time from GitHub (`2026-05-01T12:00:00Z`), or None when it is not one."""
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
