"""Text from a model or a pull request made safe to post on GitHub, by reading it as GitHub does.

GitHub renders comments as GitHub Flavored Markdown with cmark-gfm
(https://github.com/github/cmark-gfm): CommonMark (https://spec.commonmark.org/) with tables,
strikethrough and the autolink extension (https://github.github.com/gfm/), then links @mentions,
team mentions and issue references in the text it rendered. So a regex over the source cannot
tell what will render: `` \\`@octocat\\` `` is a mention between two literal backticks, a code
fence broken by blank lines ends early, `![x](url)` loads an image. Here the text is parsed
with markdown-it-py (CommonMark, plus GFM tables and strikethrough) and the tree is written back
(bot.core.markdown.writer) as Markdown in which only the structure is markup:

- every text node is escaped, so it renders as exactly that text: backslashes, backticks, `*`,
  `~`, `[`, `]`, `<`, `>`, `&`, `|` and `_` outside a word always, and a `#`, `+`, `-`, `=`,
  `>` or `1.` that could start a block at the start of a line; raw HTML (tags and
  `<!-- comments -->`) becomes visible text;
- text that cmark-gfm's autolink extension would link is written so that both parsers read it
  the same way, because such a link runs to the next space or `<` and takes any backslash
  escape in its way with it (`www.x.com\\<img>` would link `www.x.com\\` and leave a real
  `<img>`): an `http://`, `https://` URL becomes a `<…>` autolink, a `www.` address a
  `[text](http://…)` link, an `ftp://` URL code; a `www.` that cannot be made a link gets a
  zero-width joiner (U+200D) before it, which is no autolink trigger
  (https://github.github.com/gfm/#autolinks-extension-);
- an `@` before a name (a mention, or the domain of an email address, which the extension also
  links), `#` before a number and `GH-` before a number get a zero-width joiner after them: they
  read the same, but are no mention, team mention, email link or issue reference, so nothing
  notifies anyone or adds a "mentioned this" event to another issue's timeline
  (https://docs.github.com/en/get-started/writing-on-github/working-with-advanced-formatting/autolinked-references-and-urls);
  for the same reason a URL of an issue, pull request or discussion, in any of the forms above,
  is shown as code, not linked;
- code spans and fenced blocks are written with a fence longer than any backtick run in them,
  so they cannot be closed early; a code block keeps its language but never a GitHub renderer's
  (`suggestion`, `mermaid`, `geojson`, `topojson`, `stl`, `math`): only the bot makes
  suggestions, where it has checked them (bot.core.anchor);
- an image becomes a link to it (its alt text as the link's text), never an image;
- links keep their text and an http(s), mailto or relative target; others are dropped;
- nothing written can read as one of the bot's hidden markers (bot.core.markers): `tierbot:`
  gets a zero-width joiner before its colon, even inside code.

`problems()` renders a body with cmark-gfm itself, as GitHub will, and lists what in the HTML
the bot must never post; the GitHub client (bot.adapters.github) refuses to send a body with
any, and the tests run it over every sanitised output.
"""

from __future__ import annotations

import functools

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from bot.core.markdown.rendered import has_marker_text, problems
from bot.core.markdown.writer import ZWJ, Writer, code_block, fenced_span

__all__ = [
    "ZWJ",
    "code_block",
    "code_span",
    "has_marker_text",
    "plain_text",
    "problems",
    "safe_markdown",
]


@functools.cache
def _parser() -> MarkdownIt:
    """CommonMark with raw HTML on (so it is seen and escaped) and GFM tables and strikethrough,
    built on first use, not at import."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def safe_markdown(text: str) -> str:
    """Markdown that renders like `text` (headings, lists, quotes, emphasis, code, links, tables),
    with nothing in it the bot must not post; see the module docstring for what changes."""
    root = SyntaxTreeNode(_parser().parse(text))
    return Writer().blocks(root.children).strip("\n")


def plain_text(text: str) -> str:
    """Markdown that renders as `text` itself, on one line: for names, paths, reasons and other
    short strings put into the bot's own messages."""
    return Writer().text(" ".join(text.split()))


def code_span(text: str) -> str:
    """A code span showing `text` (on one line) that nothing in it can close early; "" for an
    empty text, which a code span cannot show."""
    return fenced_span(" ".join(text.splitlines()))
