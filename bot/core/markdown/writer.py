"""The writer behind bot.core.markdown.safe: a markdown-it syntax tree written back as Markdown in
which only the structure is markup.

Every text node is escaped, autolinks are written so that cmark-gfm and markdown-it read them
alike, mentions, issue references and marker words are broken with a zero-width joiner, code is
fenced longer than any backtick run in it; bot.core.markdown.safe's docstring says what and why.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from markdown_it.tree import SyntaxTreeNode

from bot.core.markdown.rendered import (
    GH_NUMBER,
    ISSUE_NUMBER,
    ISSUE_URL,
    MARKER_WORD,
    RENDERED_LANGUAGES,
    URL_CHARS,
    has_marker_text,
    safe_href,
)

ZWJ = "\u200d"
# Characters that are markup wherever they are; `_` only outside a word (GFM never reads an
# underscore between letters or digits as emphasis).
_ALWAYS = re.compile(r"[\\`*\[\]<>&~|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What makes a line a heading, quote, list item, setext underline or thematic break.
_LINE_START = re.compile(r"[#+=>-]|[0-9]{1,9}(?=[.)])")
# An `@` that a mention or an email link could go on from: cmark-gfm's autolink extension links
# `a@b.co` (and `mailto:`/`xmpp:` addresses) when the `@` is followed by one of these.
_AT = re.compile(r"@(?=[A-Za-z0-9._/-])")
# What cmark-gfm's autolink extension links in text
# (https://github.com/github/cmark-gfm/blob/master/extensions/autolink.c): an http://, https://
# or ftp:// URL, and a `www.` address where `www` starts the text or follows whitespace, `*`,
# `_`, `~` or `(` (_WWW_AFTER). Either runs to the next space or `<`; here it also stops before
# the characters that mean something in Markdown or in a table. Found anywhere else (`xhttp://`,
# `a.www.`), GitHub does not link them, but an issue URL is still shown as code.
_AUTOLINK = re.compile(rf"(?P<url>(?i:https?|ftp)://{URL_CHARS}+)|(?P<www>www\.{URL_CHARS}*)")
_WWW_AFTER = frozenset(" \t\n\r\f\v*_~(")
_URL_TAIL = ".,:;!?*_~'\""
# Two characters that, one ending a piece of inline text and one starting the next, could make a
# fence, a word (a `www.` or scheme), a mention, an email address or an issue reference.
_LANGUAGE = re.compile(r"[A-Za-z0-9_+.#-]{1,40}")
_JOINS = re.compile(r"``|[A-Za-z0-9@#-][A-Za-z0-9:@#._/-]")


def _break(text: str) -> str:
    """Text that reads the same but holds no mention, issue reference or marker word."""
    text = _AT.sub("@" + ZWJ, text)
    text = ISSUE_NUMBER.sub("#" + ZWJ, text)
    text = GH_NUMBER.sub(lambda m: m[0] + ZWJ, text)
    return MARKER_WORD.sub(r"\1" + ZWJ + r"\2", text)


def _escape(text: str) -> str:
    """Text as Markdown that renders as the text itself, wherever on a line it lands."""
    text = _ALWAYS.sub(lambda m: "\\" + m[0], _break(text))
    if text.endswith("!"):  # before a link that follows it, `!` would make an image
        text = text[:-1] + "\\!"
    start = _LINE_START.match(text)
    if start is None:
        return text
    if start[0][0].isdigit():  # `1.` or `1)`: escape the punctuation after the number
        end = start.end()
        return text[:end] + "\\" + text[end:]
    return "\\" + text


def code_block(text: str, language: str = "") -> str:
    """A fenced code block holding `text` exactly, with a backtick fence longer than any run in
    it, so no line of it closes the block. `language` is its info string (`suggestion` for a
    GitHub suggestion); it must be one word."""
    if language and not _LANGUAGE.fullmatch(language):
        raise ValueError(f"not a code block language: {language!r}")
    fence = "`" * max(3, longest_run(text, "`") + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{language}\n{body}{fence}"


def longest_run(text: str, char: str) -> int:
    """The length of the longest run of `char` in `text` (0 when there is none)."""
    runs = re.findall(re.escape(char) + "+", text)
    return max((len(run) for run in runs), default=0)


def fenced_span(content: str) -> str:
    """A code span of `content` (one line) with a fence no backtick run in it can close."""
    content = MARKER_WORD.sub(r"\1" + ZWJ + r"\2", content)
    if not content:
        return ""
    fence = "`" * (longest_run(content, "`") + 1)
    # CommonMark strips one space from each end of a code span that has both, and a backtick at
    # either end would join the fence: pad with a space, which is stripped again.
    if content[0] in "` " or content[-1] in "` ":
        content = f" {content} "
    return f"{fence}{content}{fence}"


def _destination(url: str) -> str:
    """A URL as a link destination that both parsers read back as that URL: its parentheses and
    backslashes percent-encoded, so none is markup."""
    return url.replace("\\", "%5C").replace("(", "%28").replace(")", "%29")


def _split_url(match: str) -> tuple[str, str]:
    """A URL found in text and what follows it, trimmed as GFM's autolinks are: trailing
    punctuation and unbalanced closing parentheses are not part of it."""
    url = match
    while url:
        unbalanced = url[-1] == ")" and url.count(")") > url.count("(")
        if url[-1] in _URL_TAIL or unbalanced:
            url = url[:-1]
        else:
            break
    return url, match[len(url) :]


@dataclass
class _Context:
    in_link: bool = False
    in_table: bool = False
    one_line: bool = False


class Writer:
    """Writes a markdown-it syntax tree back as safe Markdown (see the module docstring)."""

    def __init__(self) -> None:
        self._previous_list = ""

    # --- inline ---------------------------------------------------------------------------------

    def text(self, text: str, context: _Context | None = None) -> str:
        """Literal text, escaped, with what GitHub would autolink in it written so that it
        parses the same in both parsers (see the module docstring)."""
        context = context or _Context()
        out: list[str] = []
        position = 0
        match = _AUTOLINK.search(text)
        while match is not None:
            url, _ = _split_url(match[0])
            start = match.start()
            linked = match["url"] is not None or start == 0 or text[start - 1] in _WWW_AFTER
            if not linked and not ISSUE_URL.search(url):
                # a `www.` GitHub does not link: text like the rest, which may hold a URL
                match = _AUTOLINK.search(text, start + len("www."))
                continue
            out.append(_escape(text[position:start]))
            position = start + len(url)
            if match["www"] is None:
                out.append(self._url(url, context))
            elif len(url) > len("www."):
                out.append(self._www(url, context))
            else:  # nothing to link: the joiner before it is no autolink trigger
                out.append(ZWJ)
                position = start
            match = _AUTOLINK.search(text, match.end())
        out.append(_escape(text[position:]))
        return "".join(out)

    def _url(self, url: str, context: _Context) -> str:
        """An http(s) URL as a `<…>` autolink, an ftp one as code (a link may not point there)."""
        if ISSUE_URL.search(url) or "@" in url or has_marker_text(url):
            return self._code(url, context)
        if context.in_link:
            return _escape(url)
        if not url.lower().startswith("http"):
            return self._code(url, context)
        return f"<{url}>"

    def _www(self, address: str, context: _Context) -> str:
        """A `www.` address as the link GitHub would make of it, with the same text."""
        if ISSUE_URL.search(address) or "@" in address or has_marker_text(address):
            return self._code(address, context)
        if context.in_link:
            return _escape(address)
        return f"[{_escape(address)}]({_destination('http://' + address)})"

    def _code(self, content: str, context: _Context) -> str:
        if context.in_table and ("|" in content or "\\" in content):
            # GitHub splits table rows at `|` before it reads code spans, and `\\|` is an
            # escaped backslash then a cell border: shown as text, every `|` stays escaped.
            return self.text(content, context)
        return fenced_span(content)

    def inline(self, nodes: Iterable[SyntaxTreeNode], context: _Context) -> str:
        """Inline nodes one after the other, with a zero-width joiner where two would join into
        one markup: two code spans into one fence, or a link's text left alone and the text
        after it into a word, an autolink, a mention or an issue reference that neither was."""
        out = ""
        for node in nodes:
            piece = self._inline_node(node, context)
            if out and piece and _JOINS.match(out[-1] + piece.removeprefix("\\")[:1]):
                out += ZWJ
            out += piece
        return out

    def _inline_node(self, node: SyntaxTreeNode, context: _Context) -> str:
        kind = node.type
        if kind in ("text", "text_special"):
            return self.text(node.content, context)
        if kind == "softbreak":
            return " " if context.one_line else "\n"
        if kind == "hardbreak":
            return " " if context.one_line else "\\\n"
        if kind == "code_inline":
            return self._code(node.content, context)
        if kind == "html_inline":
            return self.text(" ".join(node.content.split()), context)
        if kind in ("em", "strong", "s"):
            inner = self.inline(node.children, context)
            mark = {"em": "*", "strong": "**", "s": "~~"}[kind]
            if not inner.strip() or (kind == "s" and inner.startswith("~")):
                return inner  # nothing to mark, or `~~~` that could open a code fence
            return f"{mark}{inner}{mark}"
        if kind == "link":
            return self._link(node, str(node.attrs.get("href", "")), context)
        if kind == "image":
            return self._link(node, str(node.attrs.get("src", "")), context, image=True)
        # Anything else markdown-it may add later is shown as its text, never as markup.
        return self.text(node.content, context)

    def _link(
        self, node: SyntaxTreeNode, href: str, context: _Context, *, image: bool = False
    ) -> str:
        """A link (or an image, which becomes a link to it) written back: with a safe target
        that makes no cross-reference, as `[text](target)`; else its text alone, and an issue
        URL as code. Its text is written for where it lands: inside the brackets, where GitHub
        autolinks nothing, or outside them, where it does."""
        if node.markup == "autolink":
            return self._url(href, context) if _linkable(href) else self.text(href, context)
        if context.in_link:  # an image inside a link: its text alone
            return self.inline(node.children, context).strip()
        if _linkable(href) and not ISSUE_URL.search(href):
            inside = _Context(in_link=True, in_table=context.in_table, one_line=True)
            label = self.inline(node.children, inside).strip()
            label = label or _escape("image" if image else href)
            return f"[{label}]({_destination(href)})"
        outside = _Context(in_table=context.in_table, one_line=True)
        label = self.inline(node.children, outside).strip()
        if not ISSUE_URL.search(href):
            return label
        code = self._code(href, context)
        return f"{label} ({code})" if label else code

    # --- blocks ---------------------------------------------------------------------------------

    def blocks(self, nodes: Iterable[SyntaxTreeNode], tight: bool = False) -> str:
        out: list[str] = []
        for node in nodes:
            written = self._block(node)
            if not written:
                continue
            if out:
                # In a tight list only a nested list follows its item's text directly.
                out.append("\n" if tight and node.type.endswith("_list") else "\n\n")
            out.append(written)
        return "".join(out)

    def _block(self, node: SyntaxTreeNode) -> str | None:
        kind = node.type
        if kind not in ("bullet_list", "ordered_list"):
            self._previous_list = ""
        if kind == "paragraph":
            return self.inline(_inline_children(node), _Context())
        if kind == "heading":
            level = int(node.tag[1:]) if node.tag[1:].isdigit() else 1
            text = self.inline(_inline_children(node), _Context(one_line=True)).strip()
            return "#" * level + (f" {text}" if text else "")
        if kind in ("fence", "code_block"):
            return self._code_block(node)
        if kind == "blockquote":
            inner = self.blocks(node.children)
            return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
        if kind == "bullet_list":
            mark = "*" if self._previous_list == "-" else "-"
            written = self._list(node, lambda _: f"{mark} ")
            self._previous_list = mark
            return written
        if kind == "ordered_list":
            start = _start(node)
            mark = ")" if self._previous_list == "." else "."
            written = self._list(node, lambda index: f"{start + index}{mark} ")
            self._previous_list = mark
            return written
        if kind == "hr":
            return "***"
        if kind == "html_block":
            lines = [" ".join(line.split()) for line in node.content.strip("\n").split("\n")]
            return "\n".join(self.text(line) for line in lines).strip("\n")
        if kind == "table":
            return self._table(node)
        if kind == "inline":
            return self.inline(node.children, _Context())
        return None

    def _code_block(self, node: SyntaxTreeNode) -> str:
        word = node.info.strip().split(" ")[0] if node.type == "fence" else ""
        language = word if _LANGUAGE.fullmatch(word) else ""
        if language.lower() in RENDERED_LANGUAGES or has_marker_text(language):
            language = ""
        content = MARKER_WORD.sub(r"\1" + ZWJ + r"\2", node.content)
        return code_block(content, language)

    def _list(self, node: SyntaxTreeNode, marker: Callable[[int], str]) -> str:
        items = []
        tight = any(
            child.type == "paragraph" and child.hidden
            for item in node.children
            for child in item.children
        )
        for index, item in enumerate(node.children):
            head = marker(index)
            pad = " " * len(head)
            inner = self.blocks(item.children, tight=tight)
            self._previous_list = ""
            if not inner:
                items.append(head.rstrip())
                continue
            lines = inner.split("\n")
            rest = [f"{pad}{line}" if line else "" for line in lines[1:]]
            items.append("\n".join([head + lines[0], *rest]))
        return ("\n" if tight else "\n\n").join(items)

    def _table(self, node: SyntaxTreeNode) -> str:
        rows: list[list[str]] = []
        aligns: list[str] = []
        context = _Context(in_table=True, one_line=True)
        for section in node.children:
            for row in section.children:
                cells = []
                for cell in row.children:
                    cells.append(self.inline(_inline_children(cell), context).strip())
                    if section.type == "thead":
                        aligns.append(str(cell.attrs.get("style", "")))
                rows.append(cells)
        if not rows:
            return ""
        delimiter = [_delimiter(style) for style in aligns] or ["---"]
        lines = [_row(rows[0]), _row(delimiter), *(_row(cells) for cells in rows[1:])]
        return "\n".join(lines)


def _inline_children(node: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    return [grand for child in node.children for grand in child.children]


def _start(node: SyntaxTreeNode) -> int:
    value = node.attrs.get("start", 1)
    return value if isinstance(value, int) else 1


def _delimiter(style: str) -> str:
    if "center" in style:
        return ":---:"
    if "right" in style:
        return "---:"
    if "left" in style:
        return ":---"
    return "---"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell or " " for cell in cells) + " |"


def _linkable(href: str) -> bool:
    """Whether a link may point there (bot.core.markdown.rendered.safe_href); never to a marker."""
    if not href or has_marker_text(href) or any(c.isspace() for c in href):
        return False
    return safe_href(href)
