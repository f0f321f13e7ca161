"""A folder of a repository as GitHub's Git trees API lists it: the names in it, what each is,
and each file's size, so the bot reads only the files that exist (and are not too big).
https://docs.github.com/en/rest/git/trees#get-a-tree
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.adapters.github.errors import GitHubError


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One name in a folder: `kind` is GitHub's type (`blob` a file or a symbolic link, `tree`
    a folder, `commit` a submodule), `sha` its object's id, `size` a file's bytes (None for
    the others)."""

    name: str
    kind: str
    sha: str
    size: int | None = None

    @property
    def file(self) -> bool:
        """Whether this is a file (or a symbolic link, which GitHub's contents API follows)."""
        return self.kind == "blob"

    @property
    def folder(self) -> bool:
        """Whether this is a folder."""
        return self.kind == "tree"


@dataclass(frozen=True, slots=True)
class Tree:
    """The names in one folder, not recursive; `truncated` when GitHub listed only some."""

    entries: Mapping[str, TreeEntry]
    truncated: bool = False


def read_tree(data: Any, where: str) -> Tree:
    """A tree from GitHub's answer; GitHubError when it is not one."""
    items = data.get("tree") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise GitHubError(f"unexpected answer listing the files of {where}")
    entries: dict[str, TreeEntry] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            continue
        size = item.get("size")
        entries[item["path"]] = TreeEntry(
            name=item["path"],
            kind=str(item.get("type", "")),
            sha=str(item.get("sha", "")),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        )
    return Tree(entries, bool(data.get("truncated", False)))
