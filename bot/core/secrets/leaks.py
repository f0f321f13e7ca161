"""What a change exposes: its committed secrets, as a redacted copy of the change for the models
and as findings on the lines that add them.

Pure. Each hunk is scanned as one text (its lines joined, without their +/-/space marks), so a
private key spread over many lines, removed and added alike, is found whole; a file's hunks are
scanned in order, so a key that one hunk begins and the next continues (or ends, as context) is
found in both. In the copy, every line a secret touches has that part replaced by its
placeholder (bot.core.secrets.redaction), keeping its mark, so line numbers and counts stay true
and the
model still cites real lines; hunk headers and file paths are redacted too.

A secret on an added line is a finding in its own right: one comment per line (a key block: on
its first added line), written here rather than by a model, so it is posted even when the model
review fails. Only finds sure enough to be secrets are commented on (bot.core.secrets.values); the
rest, like a word-like value under a password's name, are redacted all the same. A comment says
what kind of secret it is and what to do, never the value; its fingerprint is made from the
redacted line, so it is the same on every push and the value cannot be recovered from it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bot.core.anchor import Comment, fingerprint
from bot.core.answer_schema import Severity
from bot.core.diff import ChangeSet, FileChange, Hunk, Side
from bot.core.secrets.redaction import (
    Secret,
    describe,
    find_in_hunks,
    placeholder,
    redact,
    reported,
)


@dataclass(frozen=True, slots=True)
class Leak:
    """Secrets added on one line: the file, the new-side line, their kinds, the redacted line."""

    path: str
    line: int
    kinds: tuple[str, ...]
    code: str


@dataclass(frozen=True, slots=True)
class Exposure:
    """A change with its secrets redacted, how many there were, and the ones it adds."""

    changes: ChangeSet
    redactions: int
    leaks: tuple[Leak, ...]


def expose(changes: ChangeSet) -> Exposure:
    """Find the secrets in every hunk of `changes`; see the module docstring."""
    files: list[FileChange] = []
    leaks: list[Leak] = []
    count = 0
    for change in changes.files:
        hunks: list[Hunk] = []
        texts = ["\n".join(raw[1:] for raw in hunk.lines) for hunk in change.hunks]
        commented_key = False
        for hunk, text, found_in_hunk in zip(
            change.hunks, texts, find_in_hunks(texts, change.path), strict=True
        ):
            secrets = _continued(found_in_hunk) if commented_key else found_in_hunk
            commented_key = _open_key_added(hunk, text, secrets)
            redacted, found, added = _hunk(hunk, change.path, text, secrets)
            hunks.append(redacted)
            count += found
            leaks.extend(
                Leak(change.path, line, kinds, code) for line, (kinds, code) in added.items()
            )
        path = redact(change.path)
        old_path = redact(change.old_path) if change.old_path else None
        count += len(path.found) + (len(old_path.found) if old_path else 0)
        files.append(
            replace(
                change,
                path=path.text,
                old_path=old_path.text if old_path else None,
                hunks=tuple(hunks),
            )
        )
    return Exposure(ChangeSet(tuple(files)), count, tuple(leaks))


def _open_key_added(hunk: Hunk, text: str, secrets: tuple[Secret, ...]) -> bool:
    """Whether the hunk ends inside a private key that one of its added lines is part of (so
    the key's comment is made here, not again where the next hunk continues it)."""
    if not secrets or secrets[-1].kind != "private-key" or secrets[-1].end < len(text.rstrip()):
        return False
    at = 0
    for raw in hunk.lines:
        if raw[:1] == "+" and at + len(raw) - 1 >= secrets[-1].start:
            return True
        at += len(raw)  # the content and its newline
    return False


def _continued(secrets: tuple[Secret, ...]) -> tuple[Secret, ...]:
    """A hunk's secrets with the key continued from the previous hunk kept but not reported."""
    if secrets and secrets[0].kind == "private-key" and secrets[0].start == 0:
        return (replace(secrets[0], sure=False), *secrets[1:])
    return secrets


def leak_comments(leaks: Sequence[Leak]) -> tuple[Comment, ...]:
    """One critical security comment per line that adds a secret."""
    out = []
    for leak in leaks:
        body = _body(leak.kinds)
        out.append(
            Comment(
                path=leak.path,
                line=leak.line,
                side=Side.RIGHT,
                severity=Severity.CRITICAL,
                category="security",
                body=body,
                fingerprint=fingerprint(leak.path, leak.code, body),
            )
        )
    return tuple(out)


def _body(kinds: tuple[str, ...]) -> str:
    what = " and ".join(describe(kind) for kind in kinds)
    starts = " starts" if kinds == ("private-key",) else " adds"
    return (
        f"**Committed secret:** this line{starts} {what}. Anyone who can read this repository "
        "or its history can use it.\n\n"
        "- **Rotate it now:** revoke it where it was issued and issue a new one; removing the "
        "line does not make it safe again.\n"
        "- **Remove it from the history** (`git filter-repo` or BFG, then force-push), "
        "remembering that forks, clones and caches may keep copies.\n"
        "- **Keep it out of the code:** load it at run time from a secret store or the "
        "environment (and keep `.env` files out of the repository).\n\n"
        "<sub>Found by tierbot's secret scan, not by a model. The value is not repeated here "
        "and was not sent to any model.</sub>"
    )


def _hunk(
    hunk: Hunk, path: str, text: str, found: tuple[Secret, ...]
) -> tuple[Hunk, int, dict[int, tuple[tuple[str, ...], str]]]:
    """The hunk redacted, how many secrets it holds, and its leaks by new-side line."""
    contents = [raw[1:] for raw in hunk.lines]
    section = redact(hunk.section, path) if hunk.section else None
    if not found and not (section and section.found):
        return hunk, 0, {}
    starts = [0]
    for content in contents[:-1]:
        starts.append(starts[-1] + len(content) + 1)
    cuts: dict[int, list[tuple[int, int, str]]] = {}
    first_lines: list[tuple[Secret, range]] = []
    for secret in found:
        first = bisect.bisect_right(starts, secret.start) - 1
        last = bisect.bisect_right(starts, max(secret.end - 1, secret.start)) - 1
        for index in range(first, last + 1):
            begin = max(secret.start - starts[index], 0)
            end = min(secret.end - starts[index], len(contents[index]))
            if index == last and contents[index].endswith("\r") and end == len(contents[index]):
                end -= 1  # keep a CRLF line's CR
            cuts.setdefault(index, []).append((begin, end, secret.kind))
        first_lines.append((secret, range(first, last + 1)))
    lines = list(hunk.lines)
    for index, spans in cuts.items():
        content = contents[index]
        for begin, end, kind in sorted(spans, reverse=True):
            content = content[:begin] + placeholder(kind) + content[end:]
        lines[index] = hunk.lines[index][:1] + content
    redacted = replace(hunk, lines=tuple(lines), section=section.text if section else hunk.section)
    return (
        redacted,
        len(found) + (len(section.found) if section else 0),
        _added(redacted, first_lines),
    )


def _added(hunk: Hunk, spans: list[tuple[Secret, range]]) -> dict[int, tuple[tuple[str, ...], str]]:
    """Per new-side line, the kinds of the reported secrets that start there (or first touch
    an added line there), with the redacted line."""
    numbered = list(hunk.numbered())
    by_line: dict[int, tuple[tuple[str, ...], str]] = {}
    for secret, indexes in spans:
        if not (secret.sure and reported(secret.kind)):
            continue
        for index in indexes:
            kind, _, new, text = numbered[index]
            if kind == "+" and new is not None:
                kinds, _ = by_line.get(new, ((), ""))
                if secret.kind not in kinds:
                    kinds = (*kinds, secret.kind)
                by_line[new] = (kinds, text.rstrip("\r"))
                break
    return by_line
