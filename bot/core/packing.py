"""A change cut to fit a token budget: each file rendered with citable line numbers, then trimmed,
split and packed into parts, with a record of what happened to each file (Coverage).

Pure. Over the budget, deletion-only hunks go first; a file larger than a part is split by
hunks and a huge hunk by lines; chunks are packed into parts by area; as a last resort the
least useful files (docs, then tests, then config) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.core.complexity import area_of
from bot.core.cost import estimate_tokens
from bot.core.counts import counted
from bot.core.diff import FileChange, Hunk, Status


@dataclass(frozen=True, slots=True)
class Coverage:
    """What happened to one file: `reviewed`, `partial` (some of it shown) or `skipped`."""

    path: str
    state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Block:
    """A file's rendering (or a slice of its hunks), ready to be placed in a part."""

    path: str
    header: str
    hunks: tuple[str, ...]
    tokens: int
    value: int
    area: str
    order: int


def not_shown(f: FileChange) -> str:
    """Why `f` is listed but not shown (generated, binary, deleted, no content), or ""."""
    if f.kind.generated:
        return "generated, vendored, lock or data file"
    if f.binary:
        return "binary file"
    if f.status is Status.DELETED:
        return f"deleted file ({counted(f.removed, 'line')})"
    if not f.hunks:
        return f"no content change ({f.status})"
    return ""


def render_file(f: FileChange, hunks: tuple[Hunk, ...], order: int) -> Block:
    """`f` with `hunks` rendered as one block; `order` is its place in the change."""
    header = file_header(f)
    rendered = [_render_hunk(hunk) for hunk in hunks]
    tokens = estimate_tokens(header) + sum(estimate_tokens(h) for h in rendered)
    return Block(f.path, header, tuple(rendered), tokens, _value(f), area_of(f.path), order)


def file_header(f: FileChange) -> str:
    """`### path (status, language)`, and where a renamed or copied file came from."""
    facts = [str(f.status)] + ([f.kind.language] if f.kind.language else [])
    header = f"### {f.path} ({', '.join(facts)})"
    return f"{header} — from {f.old_path}" if f.old_path else header


def _render_hunk(hunk: Hunk) -> str:
    """`@@` header, then one line per diff line: `12 +added`, `13  context`, `(9) -removed`."""
    out = [hunk_header(hunk)]
    out += [numbered_line(kind, old, new, text) for kind, old, new, text in hunk.numbered()]
    return "\n".join(out)


def hunk_header(hunk: Hunk) -> str:
    """A hunk's `@@` line, with the section it is in when the diff names one."""
    header = f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count} @@"
    return f"{header} {hunk.section}" if hunk.section else header


def numbered_line(kind: str, old: int | None, new: int | None, text: str) -> str:
    """One diff line as a model sees it: `12 +added`, `13  context`, `(9) -removed`."""
    line = text.rstrip("\r")
    if kind == "\\":
        return f"\\{line}"
    if kind == "-":
        return f"({old}) -{line}"
    return f"{new} {kind}{line}"


def _value(f: FileChange) -> int:
    """How much a reviewer gains from seeing this file: higher is kept longer."""
    kind = f.kind
    if kind.is_code or kind.migration:
        return 4
    if kind.ci or kind.build:
        return 3
    if kind.test:
        return 2
    return 1


def without_deletion_only_hunks(block: Block, coverage: dict[str, Coverage]) -> Block | None:
    """The block without hunks that only remove lines; None when that is all it has."""
    kept = tuple(h for h in block.hunks if _has_new_side(h))
    if len(kept) == len(block.hunks):
        return block
    if not kept:
        coverage[block.path] = Coverage(
            block.path, "skipped", "only removes lines; not shown (over budget)"
        )
        return None
    dropped = len(block.hunks) - len(kept)
    coverage[block.path] = Coverage(
        block.path, "partial", f"{dropped} deletion-only hunks not shown (over budget)"
    )
    tokens = estimate_tokens(block.header) + sum(estimate_tokens(h) for h in kept)
    return replace(block, hunks=kept, tokens=tokens)


def _has_new_side(rendered_hunk: str) -> bool:
    return any(line.partition(" ")[2][:1] == "+" for line in rendered_hunk.split("\n")[1:])


def chunks_within(blocks: list[Block], room: int) -> list[Block]:
    """Blocks no bigger than `room`: a big file split by hunks, a huge hunk split by lines."""
    out: list[Block] = []
    for block in blocks:
        if block.tokens <= room:
            out.append(block)
            continue
        header_tokens = estimate_tokens(block.header) + 10
        current: list[str] = []
        used = header_tokens
        pieces: list[tuple[str, ...]] = []
        for whole in block.hunks:
            for hunk in _slices(whole, room - header_tokens):
                cost = estimate_tokens(hunk)
                if current and used + cost > room:
                    pieces.append(tuple(current))
                    current, used = [], header_tokens
                current.append(hunk)
                used += cost
        if current:
            pieces.append(tuple(current))
        for index, hunks in enumerate(pieces, 1):
            header = f"{block.header} [piece {index} of {len(pieces)}]"
            tokens = estimate_tokens(header) + sum(estimate_tokens(h) for h in hunks)
            out.append(replace(block, header=header, hunks=hunks, tokens=tokens))
    return out


def _slices(hunk: str, room: int) -> list[str]:
    """A rendered hunk cut at line boundaries into slices of at most `room` tokens; every
    line keeps its number, so each slice can be reviewed and cited on its own."""
    if estimate_tokens(hunk) <= room:
        return [hunk]
    header, *lines = hunk.split("\n")
    slices: list[str] = []
    current: list[str] = []
    used = estimate_tokens(header) + 8
    for line in lines:
        cost = estimate_tokens(line + "\n")
        if current and used + cost > room:
            slices.append("\n".join(current))
            current, used = [], estimate_tokens(header) + 8
        current.append(line)
        used += cost
    if current:
        slices.append("\n".join(current))
    total = len(slices)
    return [f"{header} (slice {i} of {total})\n{body}" for i, body in enumerate(slices, 1)]


def pack(chunks: list[Block], room: int) -> list[list[Block]]:
    """Group chunks into parts: same-area files together, larger groups first (first fit)."""
    by_area: dict[str, list[Block]] = {}
    for chunk in chunks:
        by_area.setdefault(chunk.area, []).append(chunk)
    areas = sorted(by_area.values(), key=lambda group: -sum(c.tokens for c in group))
    parts: list[list[Block]] = []
    loads: list[int] = []
    for group in areas:
        for chunk in group:
            for index, load in enumerate(loads):
                if load + chunk.tokens <= room and _same_area(parts[index], chunk):
                    parts[index].append(chunk)
                    loads[index] += chunk.tokens
                    break
            else:
                for index, load in enumerate(loads):
                    if load + chunk.tokens <= room:
                        parts[index].append(chunk)
                        loads[index] += chunk.tokens
                        break
                else:
                    parts.append([chunk])
                    loads.append(chunk.tokens)
    return parts


def _same_area(part: list[Block], chunk: Block) -> bool:
    return any(block.area == chunk.area for block in part)


def drop_least_useful(
    groups: list[list[Block]], max_parts: int, room: int, coverage: dict[str, Coverage]
) -> list[list[Block]]:
    """Keep the most useful chunks that fit in `max_parts` parts; report the rest as skipped."""
    chunks = sorted(
        (chunk for group in groups for chunk in group), key=lambda c: (-c.value, c.tokens)
    )
    kept: list[Block] = []
    capacity = room * max_parts
    used = 0
    for chunk in chunks:
        if used + chunk.tokens <= capacity:
            kept.append(chunk)
            used += chunk.tokens
        else:
            coverage[chunk.path] = Coverage(chunk.path, "skipped", "over the review budget")
    packed = pack(kept, room)
    while len(packed) > max_parts:
        victim = min((c for g in packed for c in g), key=lambda c: (c.value, -c.tokens))
        coverage[victim.path] = Coverage(victim.path, "skipped", "over the review budget")
        kept = [c for c in kept if c is not victim]
        packed = pack(kept, room)
    skipped = {p for p, c in coverage.items() if c.state == "skipped"}
    for group in packed:
        for chunk in group:
            if chunk.path in skipped:
                coverage[chunk.path] = Coverage(
                    chunk.path, "partial", "some hunks over the review budget"
                )
    return packed
