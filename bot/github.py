"""The only module that talks to GitHub: pull requests, their diffs and repo files.

Built on githubkit. Its own retries wait inside the call (a primary rate-limit hit can block for
up to an hour), so they are off here: failures come back at once as GitHubError with the status,
GitHub's message and, for rate limits, when to try again. A diff GitHub refuses as too large
(406) is rebuilt from the paged file list, where GitHub gives each file's patch (up to 3,000
files; binary and huge files come without one and are marked as such).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from githubkit import GitHub as _Kit
from githubkit import TokenAuthStrategy, UnauthAuthStrategy
from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed, RequestTimeout

DEFAULT_API_URL = "https://api.github.com"
_MAX_FILE_PAGES = 30  # 30 pages of 100: GitHub lists at most 3,000 files of a pull request
_PR_URL = re.compile(
    r"^https?://(?P<host>[^/]+)/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+)/pulls?/(?P<number>\d+)/?"
    r"(?:[#?/].*)?$"
)


class GitHubError(Exception):
    """A GitHub request that failed; the message says what to do about it where we know."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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


def parse_pull_url(url: str) -> PullRef:
    """`https://github.com/OWNER/REPO/pull/N` (or a GitHub Enterprise host) as a PullRef."""
    match = _PR_URL.match(url.strip())
    if match is None:
        raise GitHubError(f"not a pull request URL: {url!r} (expected …/OWNER/REPO/pull/NUMBER)")
    return PullRef(match["owner"], match["repo"], int(match["number"]))


class GitHub:
    """A GitHub REST client for one token (or none: public data only, 60 requests an hour)."""

    def __init__(
        self,
        token: str | None = None,
        api_url: str = DEFAULT_API_URL,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
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

    async def pull(self, ref: PullRef) -> PullRequest:
        data = await self._json(f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}")
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
        )

    async def pull_diff(self, ref: PullRef) -> bytes:
        """The pull request's unified diff; rebuilt from its file list when GitHub says 406."""
        path = f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}"
        try:
            response = await self._kit.arequest(
                "GET", path, headers={"Accept": "application/vnd.github.diff"}
            )
        except RequestFailed as exc:
            if exc.response.status_code == 406:
                return await self._diff_from_files(ref)
            raise self._error(exc, path) from None
        except RequestError as exc:
            raise self._error(exc, path) from None
        return bytes(response.content)

    async def file_text(self, owner: str, repo: str, path: str, ref: str) -> str | None:
        """A text file's content at `ref`, or None when it does not exist."""
        url = f"/repos/{owner}/{repo}/contents/{path}"
        try:
            response = await self._kit.arequest(
                "GET", url, params={"ref": ref}, headers={"Accept": "application/vnd.github.raw"}
            )
        except RequestFailed as exc:
            if exc.response.status_code == 404:
                return None
            raise self._error(exc, url) from None
        except RequestError as exc:
            raise self._error(exc, url) from None
        return bytes(response.content).decode("utf-8", errors="replace")

    async def _diff_from_files(self, ref: PullRef) -> bytes:
        out: list[str] = []
        for page in range(1, _MAX_FILE_PAGES + 1):
            files = await self._json(
                f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}/files",
                params={"per_page": 100, "page": page},
            )
            if not isinstance(files, list):
                raise GitHubError(f"unexpected answer listing the files of {ref}")
            out.extend(_file_diff(entry) for entry in files)
            if len(files) < 100:
                break
        return "".join(out).encode("utf-8", errors="surrogateescape")

    async def _json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._kit.arequest("GET", path, params=params)
        except RequestError as exc:
            raise self._error(exc, path) from None
        return response.json()

    def _error(self, exc: RequestError[Any], path: str) -> GitHubError:
        if isinstance(exc, RequestTimeout):
            return GitHubError(f"GitHub did not answer in time for {path}")
        if isinstance(exc, RequestFailed):
            status = exc.response.status_code
            message = _github_message(exc.response.raw_response)
            if isinstance(exc, RateLimitExceeded) or (
                status in (403, 429) and "rate limit" in message.lower()
            ):
                reset = exc.response.raw_response.headers.get("x-ratelimit-reset", "")
                hint = "" if self._authenticated else "; set GITHUB_TOKEN for a higher limit"
                when = f" (resets at epoch {reset})" if reset else ""
                return GitHubError(f"GitHub rate limit reached{when}{hint}", status)
            if status == 404:
                hint = "" if self._authenticated else " (private? set GITHUB_TOKEN)"
                return GitHubError(f"not found on GitHub: {path}{hint}", status)
            if status in (401, 403):
                return GitHubError(f"GitHub refused {path}: {status} {message}", status)
            return GitHubError(f"GitHub answered {status} for {path}: {message}", status)
        return GitHubError(f"could not reach GitHub for {path}: {exc.exc}")


def _github_message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    return str(data.get("message", "")) if isinstance(data, dict) else ""


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
