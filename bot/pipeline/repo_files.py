"""The files the bot reads from a repository's default branch, and only those that exist: the
settings file and the guidance files (bot.core.guidance), never the pull request's versions.

The branch's top folder is listed once (GitHub's Git trees API), and a folder the wanted paths
are in (`.github`) once if it exists; then each wanted file that is listed is read, all at
once. A repository with none of them costs one or two requests instead of one 404 per file.
A file too big to be worth reading is not read: it is reported instead. When the listing is
not there (404: a branch name GitHub cannot take in a path) or incomplete (GitHub truncated
it), the wanted files are read directly, each 404 meaning the file is absent. Any other
failure is GitHub's error, raised: a file that could not be read is never taken as absent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.adapters.github import Tree, TreeEntry
from bot.pipeline.services import GitHubClient

MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RepoFiles:
    """The wanted files that exist (path to text) and those too big to read (path to bytes)."""

    texts: Mapping[str, str]
    too_big: Mapping[str, int]


async def read_default_files(
    github: GitHubClient, owner: str, repo: str, branch: str, paths: Sequence[str]
) -> RepoFiles:
    """The files of `paths` (at most one folder deep) on `branch`, as bot.pipeline.repo_files
    says; raises GitHubError when GitHub fails other than with a 404."""
    if not paths:
        return RepoFiles({}, {})
    listing = await _listing(github, owner, repo, branch, {_folder(path) for path in paths})
    present: list[str] = []
    too_big: dict[str, int] = {}
    for path in paths:
        entry = listing.entries.get(path)
        if entry is None and _folder(path) in listing.complete:
            continue  # its folder was listed whole, without it
        if entry is not None and not entry.file:
            continue  # a folder or a submodule of that name
        if entry is not None and entry.size is not None and entry.size > MAX_FILE_BYTES:
            too_big[path] = entry.size
            continue
        present.append(path)
    texts = await asyncio.gather(*(github.file_text(owner, repo, path, branch) for path in present))
    found = {path: text for path, text in zip(present, texts, strict=True) if text is not None}
    return RepoFiles(found, too_big)


@dataclass(frozen=True, slots=True)
class _Listing:
    """The names listed (path to entry), and the folders listed whole ("" the top one)."""

    entries: dict[str, TreeEntry] = field(default_factory=dict)
    complete: set[str] = field(default_factory=set)

    def add(self, folder: str, tree: Tree) -> None:
        """Record a folder's entries; a truncated listing is not a whole one, so the files
        missing from it are read directly."""
        prefix = f"{folder}/" if folder else ""
        for name, entry in tree.entries.items():
            self.entries[prefix + name] = entry
        if not tree.truncated:
            self.complete.add(folder)


async def _listing(
    github: GitHubClient, owner: str, repo: str, branch: str, folders: set[str]
) -> _Listing:
    """The top folder of `branch` and each of `folders` in it, as far as GitHub lists them."""
    listing = _Listing()
    top = await github.tree(owner, repo, branch)
    if top is None:
        return listing
    listing.add("", top)
    for folder in sorted(folders - {""}):
        entry = top.entries.get(folder)
        if entry is None or not entry.folder:
            if "" in listing.complete:
                listing.complete.add(folder)  # no such folder: nothing in it exists
            continue
        inner = await github.tree(owner, repo, entry.sha)
        if inner is not None:
            listing.add(folder, inner)
    return listing


def _folder(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""
