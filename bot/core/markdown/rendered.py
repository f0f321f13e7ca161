"""What a comment body renders as on GitHub, and what in that the bot must never post.

GitHub renders comments with cmark-gfm (https://github.com/github/cmark-gfm): CommonMark with
the GFM extensions for tables, strikethrough, task lists, footnotes, the tag filter and
autolinks (https://github.github.com/gfm/). `github_html()` renders a body with that library,
raw HTML left in (the unsafe option), so that every tag, comment and link in it shows. GitHub
then links @mentions, team mentions and issue references in the rendered text outside code and
links, and turns a link to an issue, pull request or discussion into a cross-reference
(https://docs.github.com/en/get-started/writing-on-github/working-with-advanced-formatting/autolinked-references-and-urls):
`problems()` reads the HTML with a real HTML parser and checks it against an allowlist:

- only the tags Markdown makes (paragraphs, links, code, emphasis, strikethrough, lists,
  quotes, headings, tables, rules and line breaks) with the attributes cmark-gfm gives them,
  plus the raw tags a caller allows (the bot's own small print: bot.core.markers.OWN_HTML);
  no image, no other raw HTML, no HTML comment (bot.adapters.github sets the bot's signed marker
  lines aside before it asks);
- links only to http(s), mailto or relative addresses, and none to an issue, pull request or
  discussion, by its address or its text;
- no live @mention or issue URL in any text outside code, and no issue reference (`#12`,
  `owner/repo#3`, `GH-7`) in text outside code and links, where GitHub makes none (mentions are
  looked for in a link's text too: the bot breaks them everywhere it writes);
- no code block GitHub draws with a renderer of its own, other than a suggestion;
- no text that reads as one of the bot's markers (`tierbot:`), in the source or as rendered.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection
from html import unescape
from html.parser import HTMLParser

# GitHub draws these code blocks with a renderer of their own instead of as code.
# https://docs.github.com/en/get-started/writing-on-github/working-with-advanced-formatting/creating-diagrams
RENDERED_LANGUAGES = frozenset({"suggestion", "mermaid", "geojson", "topojson", "stl", "math"})
# What GitHub links in rendered text outside code: a mention or team mention, an issue
# reference (`#12`, `owner/repo#12`, `GH-12`), and a URL of an issue, pull request or
# discussion (/OWNER/REPO/issues/N, /pull/N, /discussions/N), which it makes a cross-reference.
MENTION = re.compile(r"@(?=[A-Za-z0-9])")
_MENTION_ADDRESS = re.compile(r"(?i)(?:mailto:)?@")
ISSUE_NUMBER = re.compile(r"#(?=[0-9])")
GH_NUMBER = re.compile(r"(?i)\bGH-(?=[0-9])")
ISSUE_URL = re.compile(r"/[^/\s]+/[^/\s]+/(?:issues|pulls?|discussions)/[0-9]", re.IGNORECASE)
# What a URL in text runs over (a link GitHub makes runs to the next space or `<`; these also
# stop before what means something in Markdown or in a table).
URL_CHARS = r"[^\s<>\"'`|\\\x00-\x1f\x7f]"
_URL = re.compile(rf"(?i:https?://|ftp://|www\.){URL_CHARS}+")
# The start of every one of the bot's hidden markers (bot.core.markers), in any case.
MARKER_WORD = re.compile(r"(?i)(tierbot)(:)")
# The tags cmark-gfm makes from Markdown, and the attributes it gives them (`lang` on a fenced
# block's <pre> is the GitHub option GitHub itself uses).
_MARKDOWN_TAGS: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        ["p", "code", "em", "strong", "del", "ul", "li", "blockquote", "hr", "br"], frozenset()
    ),
    **dict.fromkeys([f"h{level}" for level in range(1, 7)], frozenset()),
    **dict.fromkeys(["table", "thead", "tbody", "tr"], frozenset()),
    **dict.fromkeys(["th", "td"], frozenset({"align"})),
    "a": frozenset({"href", "title"}),
    "pre": frozenset({"lang"}),
    "ol": frozenset({"start"}),
}
_CODE = frozenset({"code", "pre"})
_SAFE_SCHEMES = ("http:", "https:", "mailto:")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_RELATIVE = re.compile(r"[A-Za-z0-9/.#]")
_OWN_TAG = re.compile(r"</?([a-z][a-z0-9]*)>")


def safe_href(href: str) -> bool:
    """Whether a link may point there: an http(s) or mailto URL, or a relative address that
    starts as one does (a letter, digit, `/`, `.` or `#`); never an address that is a mention
    (`@octocat`, `mailto:@octocat`)."""
    if _MENTION_ADDRESS.match(href):
        return False
    if _SCHEME.match(href):
        return href.lower().startswith(_SAFE_SCHEMES)
    return _RELATIVE.match(href) is not None


def has_marker_text(text: str) -> bool:
    """Whether `text` holds `tierbot:` in any case, the start of every hidden marker."""
    return MARKER_WORD.search(text) is not None


@functools.cache
def _renderer() -> Callable[[str], str]:
    """cmark-gfm with GitHub's extensions, raw HTML kept and footnotes on, loaded on first use."""
    # A C extension: loaded where a body is checked, not wherever markdown is imported.
    import cmarkgfm  # type: ignore[import-untyped]  # noqa: PLC0415
    from cmarkgfm.cmark import Options  # type: ignore[import-untyped]  # noqa: PLC0415

    options = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_FOOTNOTES

    def render(markdown: str) -> str:
        return str(cmarkgfm.github_flavored_markdown_to_html(markdown, options=options))

    return render


def github_html(markdown: str) -> str:
    """`markdown` rendered as GitHub renders a comment, before it links mentions and issue
    references, with any raw HTML in it left as it is. A lone surrogate (text decoded with
    `surrogateescape`, as diffs are) is read as `?`: cmark-gfm takes UTF-8 only."""
    return _renderer()(markdown.encode("utf-8", "replace").decode("utf-8"))


def problems(markdown: str, *, allowed_html: Collection[str] = ()) -> list[str]:
    """What in `markdown`, rendered by GitHub, the bot must not post (see the module docstring);
    empty when the body is safe. `allowed_html` are raw tags the caller may use, each written
    whole and bare (`<sub>`, `</sub>`)."""
    allowed = {m[1] for piece in allowed_html if (m := _OWN_TAG.fullmatch(piece))}
    reader = _Reader(frozenset(allowed))
    reader.feed(github_html(markdown))
    reader.close()
    found = reader.found
    if has_marker_text(markdown) or reader.marker_text:
        found.append("text that reads as one of the bot's markers")
    return list(dict.fromkeys(found))


class _Reader(HTMLParser):
    """Reads cmark-gfm's HTML and notes what is not on the allowlist.

    cmark-gfm writes every `<` of text and code as `&lt;`, so a `<` that the parser hands over
    as text is markup it could not read as a tag (`<!-- x` left open, `<!-->`), which a browser
    may still read as one: that is raw HTML too. Character references are read for the text
    checks as a browser reads them."""

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__(convert_charrefs=False)
        self.found: list[str] = []
        self.marker_text = False  # in a text or comment, as rendered
        self._allowed = allowed
        self._text: list[str] = []  # the text since the last tag
        self._code = 0  # open <code> and <pre> elements
        self._links = 0  # open <a> elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._flush()
        self._code += tag in _CODE
        self._links += tag == "a"
        attributes = dict(attrs)
        if tag == "img":
            self.found.append("an image")
            return
        allowed = _MARKDOWN_TAGS.get(tag)
        if allowed is None and tag in self._allowed:
            allowed = frozenset()
        if allowed is None or not set(attributes) <= allowed:
            self.found.append(f"raw HTML: {self.get_starttag_text() or f'<{tag}>'!r}"[:80])
            return
        if tag == "a":
            self._check_href(attributes.get("href") or "")
        if tag == "pre":
            self._check_language(attributes.get("lang") or "")

    def handle_endtag(self, tag: str) -> None:
        self._flush()
        self._code = max(0, self._code - (tag in _CODE))
        self._links = max(0, self._links - (tag == "a"))
        if tag not in _MARKDOWN_TAGS and tag not in self._allowed:
            self.found.append(f"raw HTML: {f'</{tag}>'!r}")

    def handle_data(self, data: str) -> None:
        if "<" in data:
            self.found.append(f"raw HTML: {data.strip()[:60]!r}")
        self._text.append(data)

    def handle_entityref(self, name: str) -> None:
        self._text.append(unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self._text.append(unescape(f"&#{name};"))

    def handle_comment(self, data: str) -> None:
        self._flush()
        self.marker_text = self.marker_text or has_marker_text(data)
        self.found.append(f"an HTML comment: {data.strip()[:60]!r}")

    def handle_decl(self, decl: str) -> None:
        self.found.append(f"raw HTML: {decl[:60]!r}")

    def handle_pi(self, data: str) -> None:
        self.found.append(f"raw HTML: {data[:60]!r}")

    def unknown_decl(self, data: str) -> None:
        self.found.append(f"raw HTML: {data[:60]!r}")

    def close(self) -> None:
        super().close()
        self._flush()
        if self.rawdata:  # anything the parser kept back unread
            self.found.append(f"raw HTML: {self.rawdata[:60]!r}")

    def _flush(self) -> None:
        """Check the text since the last tag, as GitHub reads it: mentions and issue URLs
        outside code, issue references outside code and links."""
        text = "".join(self._text)
        self._text = []
        self.marker_text = self.marker_text or has_marker_text(text)
        if self._code:
            return
        if MENTION.search(text):
            self.found.append("a live @mention")
        if not self._links and (ISSUE_NUMBER.search(text) or GH_NUMBER.search(text)):
            self.found.append("an issue reference")
        if any(ISSUE_URL.search(url) for url in _URL.findall(text)):
            self.found.append("an issue URL")

    def _check_href(self, href: str) -> None:
        if ISSUE_URL.search(href):
            self.found.append(f"a link that cross-references an issue: {href[:80]!r}")
        elif not safe_href(href):
            self.found.append(f"a link to {href[:40]!r}")
        if has_marker_text(href):
            self.found.append("text that reads as one of the bot's markers")

    def _check_language(self, language: str) -> None:
        word = language.lower()
        if word in RENDERED_LANGUAGES and language != "suggestion":
            self.found.append(f"a {language!r} block GitHub renders")
