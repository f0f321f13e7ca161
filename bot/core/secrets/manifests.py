"""Kubernetes Secret manifests: in a YAML document of `kind: Secret`, every value under `data:`
or `stringData:` is a secret, whatever its key is called.

Pure. A hunk shows part of a file, so the kind of the last document seen is carried to the
file's next hunk (bot.core.secrets.keyblocks.Carry).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from bot.core.secrets.values import placeholder


@dataclass(frozen=True, slots=True)
class Found:
    """A secret value's offsets in the text, and whether it is long enough to be sure of."""

    start: int
    end: int
    sure: bool = True


_KIND = re.compile(r"^\s*kind:\s*[\"']?(?P<kind>[A-Za-z]+)[\"']?\s*(?:#.*)?$")
_DATA = re.compile(r"^(?P<indent>\s*)(?:data|stringData):\s*(?:#.*)?$")
_ITEM = re.compile(
    r"^(?P<indent>\s*)[\"']?[\w.\-/]+[\"']?:[ \t]+(?P<value>[^#\s][^#]*?)\s*(?:\s#.*)?$"
)
_YAML_SUFFIXES = (".yaml", ".yml", ".yaml.j2", ".yml.j2", ".tpl", ".yaml.tmpl")


def is_yaml(path: str) -> bool:
    """Whether `path` may hold YAML manifests (an empty path: any text may)."""
    return not path or path.lower().endswith(_YAML_SUFFIXES)


def secret_values(
    lines: Sequence[str], starts: Sequence[int], manifest: str | None
) -> tuple[list[Found], str | None]:
    """Values under `data:` and `stringData:` in YAML documents of `kind: Secret` (the kind
    seen in this text's document, or for its first document, the one the file's previous hunk
    was in). `starts` are the lines' offsets in the text. Returns them and the kind of the text's
    last document."""
    found: list[Found] = []
    documents = _documents(lines)
    for number, (first, last) in enumerate(documents):
        kind = None
        for index in range(first, last):
            match = _KIND.match(lines[index])
            if match and not lines[index].startswith((" ", "\t")):
                kind = match["kind"]
        if kind is None and number == 0:
            kind = manifest
        if kind == "Secret":
            found += _data_values(lines, starts, first, last)
        manifest = kind
    return found, manifest


def _documents(lines: Sequence[str]) -> list[tuple[int, int]]:
    bounds = [i for i, line in enumerate(lines) if line.rstrip() in ("---", "...")]
    edges = [-1, *bounds, len(lines)]
    return [(a + 1, b) for a, b in itertools.pairwise(edges) if b > a + 1] or [(0, 0)]


def _data_values(
    lines: Sequence[str], starts: Sequence[int], first: int, last: int
) -> Iterator[Found]:
    index = first
    while index < last:
        header = _DATA.match(lines[index])
        index += 1
        if header is None:
            continue
        depth = len(header["indent"])
        while index < last:
            line = lines[index]
            if line.strip() and len(line) - len(line.lstrip()) <= depth:
                break
            item = _ITEM.match(line)
            index += 1
            if item is None:
                continue
            value = item["value"]
            if value in ("|", "|-", "|+", ">", ">-", ">+"):
                below = _block_scalar(lines, index, len(item["indent"]))
                if below > index:  # the value is the deeper lines under its key
                    end = starts[below - 1] + len(lines[below - 1])
                    yield Found(starts[index], end)
                index = below
                continue
            if placeholder(value.strip("\"'")):
                continue
            start = starts[index - 1] + item.start("value")
            if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) > 1:
                start, value = start + 1, value[1:-1]
            yield Found(start, start + len(value), len(value) >= 8)


def _block_scalar(lines: Sequence[str], index: int, depth: int) -> int:
    """The first line at or after `index` that is not deeper than `depth` (past a block
    scalar's lines)."""
    while index < len(lines):
        line = lines[index]
        if line.strip() and len(line) - len(line.lstrip()) <= depth:
            break
        index += 1
    return index
