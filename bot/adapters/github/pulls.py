"""Pull requests as the bot names and reads them: a reference, what GitHub says of one, its URL,
and a diff rebuilt from its file list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.adapters.github.errors import GitHubError

_PR_URL = re.compile(
    r"^https?://(?P<host>[^/]+)/(?P<owner>[^/\s]+)/(?P<repo>[^/\s]+)/pulls?/(?P<number>\d+)/?"
    r"(?:[#?/].*)?$"
)


@dataclass(frozen=True, slots=True)
class PullRef:
    """One pull request: its repository's owner and name, and its number."""

    owner: str
    repo: str
    number: int

    def __str__(self) -> str:
        return f"{self.owner}/{self.repo}#{self.number}"


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A pull request as GitHub describes it, in the fields the bot reads."""

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


def parse_pull_url(url: str) -> PullRef:
    """`https://github.com/OWNER/REPO/pull/N` (or a GitHub Enterprise host) as a PullRef."""
    match = _PR_URL.match(url.strip())
    if match is None:
        raise GitHubError(f"not a pull request URL: {url!r} (expected …/OWNER/REPO/pull/NUMBER)")
    return PullRef(match["owner"], match["repo"], int(match["number"]))


def pulls_path(ref: PullRef) -> str:
    """The REST path of the pull request."""
    return f"/repos/{ref.owner}/{ref.repo}/pulls/{ref.number}"


def file_diff(entry: dict[str, Any]) -> str:
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
