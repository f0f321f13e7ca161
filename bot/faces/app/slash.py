"""Slash commands in a pull request comment: `/name args` or `@<app slug> name args` at the start
of a line, never in a quote, a code block or an HTML comment; the first one is carried out.

Pure: text in, `Command` out. What each command needs (write access, the caps) is decided by
bot.faces.app.events, which turns a comment into jobs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.core.secrets.redaction import redact_text

COMMANDS = frozenset({"review", "ask", "route", "cost", "pause", "resume", "help"})
REVIEW_OPTIONS = frozenset({"full", "--local", "--frontier"})
MAX_QUESTION_CHARS = 8000
_MAX_ARGS = 10
MAX_ARG_CHARS = 100


@dataclass(frozen=True, slots=True)
class Command:
    """A slash command: its lower-cased `name`, its `args` and the `raw` text it came from.

    `args` are the whitespace-separated words after the name on its line, except for `ask`,
    whose one arg is the whole question (the rest of the comment, line breaks kept).
    """

    name: str
    args: tuple[str, ...]
    raw: str


def bot_slug(bot_login: str) -> str:
    """The App's slug, which people @-mention: its login without the `[bot]` suffix."""
    return bot_login.removesuffix("[bot]")


def parse_command(body: str, slug: str) -> Command | None:
    """The first slash command in a comment body, or None. Never raises."""
    mention = re.compile(rf"@{re.escape(slug)}(?:\[bot\])?(?![\w-])[:,]?(?:\s+/?|$)", re.IGNORECASE)
    lines = _HTML_COMMENT.sub("", body).splitlines()
    for index, text in _command_lines(lines):
        found = mention.match(text)
        if found:
            rest = text[found.end() :]
            if not rest.strip():
                return Command("help", (), text.strip())
            word = _WORD.match(rest)
        else:
            word = _SLASH.match(text)
        if not word:
            continue
        name = word.group("name").lower()
        if not found and name not in COMMANDS:
            continue  # another bot's command (/lgtm, /retest): only `@tierbot …` gets help
        after = word.group("rest")
        if name == "ask":
            question = "\n".join([after, *lines[index + 1 :]]).strip()
            raw = "\n".join([text, *lines[index + 1 :]]).strip()
            return Command(name, (cut_question(question),) if question else (), cut_question(raw))
        # Bounded, like the question: no command takes more than a few short words.
        args = tuple(word[:MAX_ARG_CHARS] for word in after.split()[:_MAX_ARGS])
        return Command(name, args, cut_question(text.strip()))
    return None


def needs_write(command: Command) -> bool:
    """Whether a command spends frontier money or changes behaviour (see the module doc)."""
    if command.name in ("pause", "resume"):
        return True
    return command.name == "review" and bool({"--frontier", "full"} & set(command.args))


_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})")
_SLASH = re.compile(r"/(?P<name>[A-Za-z][\w-]*)(?=\s|$)(?P<rest>.*)")
_WORD = re.compile(r"(?P<name>[A-Za-z][\w-]*)(?=\s|$)(?P<rest>.*)")


def _command_lines(lines: list[str]) -> Iterator[tuple[int, str]]:
    """The lines a command may start, with their index, indentation (up to 3 spaces) removed:
    not in a fenced code block (https://spec.commonmark.org/0.31.2/#fenced-code-blocks), not an
    indented code line, not a `>` quote."""
    fence: str | None = None
    for index, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and _closes(opening.group("fence"), fence, line[opening.end() :]):
                fence = None
            continue
        if opening:
            fence = opening.group("fence")
            continue
        expanded = line.expandtabs(4)
        text = expanded.lstrip(" ")
        if len(expanded) - len(text) >= 4 or text.startswith(">"):
            continue
        yield index, text


def _closes(candidate: str, fence: str, after: str) -> bool:
    return candidate[0] == fence[0] and len(candidate) >= len(fence) and not after.strip()


def cut_question(text: str) -> str:
    """A question short enough for a job payload (the queue refuses payloads over 256 KiB; a
    65,536-character comment of emoji is more than that as escaped JSON), with any secret in it
    redacted: the queue keeps payloads on disk, and no model needs the value to answer."""
    text = redact_text(text)
    if len(text) <= MAX_QUESTION_CHARS:
        return text
    return text[:MAX_QUESTION_CHARS] + " [cut]"
