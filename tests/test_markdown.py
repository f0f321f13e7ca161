"""Model and pull-request text made safe to post: read as GitHub reads Markdown (markdown-it-py,
CommonMark with GFM tables and strikethrough) and written back with nothing but structure as
markup, then checked as GitHub renders it (cmark-gfm, GitHub's own renderer). Examples of each
bypass a regex or a CommonMark-only reading allowed, then properties over generated text."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from bot.core.markdown.rendered import github_html, problems
from bot.core.markdown.safe import (
    ZWJ,
    code_block,
    code_span,
    has_marker_text,
    plain_text,
    safe_markdown,
)

# Fragments that mean something to CommonMark, GFM or GitHub, mixed with arbitrary text.
FRAGMENTS = [
    "`", "``", "```", "~~~", "\\", "\\`", "@", "@octocat", "@org/team", "#", "#12", "GH-7",
    "o/r#3", "<", ">", "<!--", "-->", "<!-- tierbot:paused -->", "tierbot:", "TierBot:",
    "<img src=x onerror=alert(1)>", "<b>", "</b>", "<details>", "![a](http://e.x/p.png)",
    "![", "[", "]", "(", ")", "](", "[x]: http://e.x", "*", "**", "_", "~~", "|", "| --- |",
    "-", "---", "===", "+", "1.", "2)", "> ", "    ", "\t", "\n", "\n\n", " ", "&", "&#64;",
    "&lt;", "https://github.com/o/r/issues/1", "https://e.x/a_b", "<https://e.x>",
    "<mailto:a@b.c>", "a@b.co", "www.e.x", "```suggestion\n", "```mermaid\n", "$x$", ":+1:",
    "\u200d", "é", "www.", "www.x.com", "www.github.com/o/r/issues/1", "ftp://f.co", ".com",
    "<img src=//e/p.png>", "<a href=//e/o/r/issues/1>", "mailto:", "xmpp:", "a@b.co", "h", "http",
    "tp://", "w", "ww", "://", "[^1]", "[^1]: ", "$", "- [ ] ", "\r", "\u00a0", "&#x40;",
]  # fmt: skip
markdownish = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=6),
    ),
    max_size=40,
).map("".join)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(markdown: str) -> SyntaxTreeNode:
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    return SyntaxTreeNode(parser.parse(markdown))


def walk(node: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    return [node, *(n for child in node.children for n in walk(child))]


def visible(markdown: str) -> str:
    """The text a reader sees: text, code and link text, in order, without zero-width joiners;
    blocks, cells, code spans and links set apart by whitespace, however they are written."""
    return _visible(parse(markdown)).replace(ZWJ, "")


def shown(markdown: str) -> str:
    """What a reader sees, with runs of whitespace as one space."""
    return " ".join(visible(markdown).split())


def _visible(node: SyntaxTreeNode) -> str:
    if node.type in ("text", "fence", "code_block", "html_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return "\n"
    if node.type == "code_inline":
        return f" {node.content} "
    inner = "".join(_visible(child) for child in node.children)
    if node.type in ("link", "image", "paragraph", "heading", "th", "td"):
        return f" {inner} "
    return inner


def mentions_outside_code(markdown: str) -> list[str]:
    return [
        node.content
        for node in walk(parse(markdown))
        if node.type == "text" and re.search(r"@[A-Za-z0-9]", node.content)
    ]


# What cmark-gfm makes of Markdown (bot.core.markdown.rendered allows these and the bot's own tags).
MARKDOWN_TAGS = {
    "p", "a", "code", "pre", "em", "strong", "del", "ul", "ol", "li", "blockquote", "hr", "br",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def github_tags(markdown: str) -> list[str]:
    """The tags GitHub's renderer makes of `markdown`, read with a regex: text and code come
    out with `<` as `&lt;`, so every `<` in the HTML starts a tag, a comment or raw HTML."""
    return re.findall(r"<(/?[A-Za-z!?][A-Za-z0-9-]*)", github_html(markdown))


def github_hrefs(markdown: str) -> list[str]:
    return re.findall(r'<a href="([^"]*)"', github_html(markdown))


def unexpected_tags(markdown: str) -> list[str]:
    return [tag for tag in github_tags(markdown) if tag.lstrip("/") not in MARKDOWN_TAGS]


# --- the bypasses -----------------------------------------------------------------------------


def test_escaped_backticks_around_a_mention_do_not_leave_a_live_mention() -> None:
    out = safe_markdown("\\`@octocat\\` please look")
    assert mentions_outside_code(out) == []
    assert shown(out) == "`@octocat` please look"
    assert not [n for n in walk(parse(out)) if n.type == "code_inline"]


def test_a_code_fence_split_by_blank_lines_does_not_let_html_through() -> None:
    out = safe_markdown("```\ncode\n\n\n```\n<img src=x> @octocat <!-- tierbot:paused -->")
    assert problems(out) == []
    assert "tierbot:" not in out
    assert "<img src=x>" in shown(out)


def test_an_image_becomes_a_link_to_it_and_never_loads() -> None:
    out = safe_markdown("Looks good ![tracking pixel](https://evil.example/p.png)")
    assert out == "Looks good [tracking pixel](https://evil.example/p.png)"
    assert not [n for n in walk(parse(out)) if n.type == "image"]


def test_an_exclamation_mark_before_a_link_does_not_make_it_an_image() -> None:
    out = safe_markdown("wow\\![x](https://e.example/p.png)")
    assert problems(out) == []
    assert shown(out) == "wow! x"


def test_code_spans_side_by_side_stay_two_code_spans() -> None:
    out = safe_markdown("<mailto:a@b.c><mailto:a@b.c>")
    assert [n.content for n in walk(parse(out)) if n.type == "code_inline"] == ["mailto:a@b.c"] * 2


def test_raw_html_and_hidden_comments_become_visible_text() -> None:
    out = safe_markdown("<b>bold</b> <!-- hidden --> <details><summary>x</summary></details>")
    assert problems(out) == []
    assert shown(out) == "<b>bold</b> <!-- hidden --> <details><summary>x</summary></details>"


@pytest.mark.parametrize(
    ("text", "mention"),
    [("cc @octocat", "@octocat"), ("ping @acme/security-team now", "@acme/security-team")],
)
def test_mentions_and_team_mentions_read_the_same_but_notify_no_one(
    text: str, mention: str
) -> None:
    out = safe_markdown(text)
    assert mentions_outside_code(out) == []
    assert mention in shown(out)


def test_issue_references_and_issue_urls_make_no_cross_reference() -> None:
    text = "Fixed in #12, GH-7 and other/repo#3; see https://github.com/other/repo/pull/4."
    out = safe_markdown(text)
    assert problems(out) == []
    assert (
        shown(out)
        == "Fixed in #12, GH-7 and other/repo#3; see https://github.com/other/repo/pull/4 ."
    )
    assert "`https://github.com/other/repo/pull/4`" in out


def test_links_keep_their_text_and_a_safe_target_only() -> None:
    out = safe_markdown("[docs](https://e.example/a(b)) and [run](javascript:alert(1))")
    assert out.startswith("[docs](https://e.example/a%28b%29) and ")
    assert [n.attrs["href"] for n in walk(parse(out)) if n.type == "link"] == [
        "https://e.example/a%28b%29"
    ]


def test_structure_is_kept_headings_lists_quotes_tables_emphasis_and_code() -> None:
    text = (
        "# Title\n\nSome *em*, **strong**, ~~gone~~ and `code`.\n\n- one\n- two\n  1. nested\n\n"
        "> quoted\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n```py\nx = 1\n```"
    )
    out = safe_markdown(text)
    kinds = {n.type for n in walk(parse(out))}
    assert {"heading", "em", "strong", "s", "code_inline", "bullet_list", "ordered_list"} <= kinds
    assert {"blockquote", "table", "fence"} <= kinds
    assert "```py\nx = 1\n```" in out
    assert shown(out) == shown(text)


def test_a_code_block_never_becomes_a_suggestion_or_a_diagram() -> None:
    out = safe_markdown("```suggestion\nrm -rf /\n```\n\n```mermaid\ngraph TD\n```")
    assert "suggestion" not in out
    assert "mermaid" not in out
    assert [n.info for n in walk(parse(out)) if n.type == "fence"] == ["", ""]


def test_code_keeps_its_text_but_loses_marker_words() -> None:
    out = safe_markdown("`<!-- tierbot:paused -->` and\n\n```\n<!-- TIERBOT:summary -->\n```")
    assert not has_marker_text(out)
    assert shown(out) == "<!-- tierbot:paused --> and <!-- TIERBOT:summary -->"


def test_code_spans_and_blocks_use_fences_their_content_cannot_close() -> None:
    assert code_span("a ``` b") == "````a ``` b````"
    assert code_span("`x`") == "`` `x` ``"
    assert code_span("") == ""
    assert code_block("```\ninner\n```", "suggestion") == "````suggestion\n```\ninner\n```\n````"
    assert code_block("", "suggestion") == "```suggestion\n```"
    with pytest.raises(ValueError, match="language"):
        code_block("x", "py\n# @x")


def test_a_pipe_in_code_inside_a_table_cannot_split_the_cell() -> None:
    out = safe_markdown("| a |\n|---|\n| `x\\|<img src=y>` |")
    assert problems(out) == []


def test_plain_text_is_shown_as_it_is() -> None:
    text = "-1. # not a *heading* <b> [link](x) @octocat #3 a_b _c_ \\ & |"
    assert shown(plain_text(text)) == text
    assert problems(plain_text(text)) == []


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("\\`@octocat\\`", "a live @mention"),
        ("![a](x)", "an image"),
        ("<b>x</b>", "raw HTML: '<b>'"),
        ("see #1", "an issue reference"),
        ("https://github.com/o/r/pull/2", "an issue URL"),
        ("<!-- tierbot:paused -->", "text that reads as one of the bot's markers"),
        ("```mermaid\nx\n```", "a 'mermaid' block GitHub renders"),
    ],
)
def test_problems_names_what_must_not_be_posted(body: str, found: str) -> None:
    assert found in problems(body)


def test_problems_allows_the_html_it_is_told_to_and_nothing_else() -> None:
    body = "<sub>`/help`</sub>\n\n<details><summary>Files</summary>\n\n- a\n</details>"
    assert problems(body, allowed_html=("<sub>", "</sub>")) != []
    allowed = ("<sub>", "</sub>", "<details>", "</details>", "<summary>", "</summary>")
    assert problems(body, allowed_html=allowed) == []
    assert problems("<details><summary>@octocat</summary>", allowed_html=allowed) == [
        "a live @mention"
    ]


# A `www.`, `ftp://` or `http://` address that GitHub autolinks runs to the next space or `<`,
# backslashes included: written as escaped text, `www.x.com\\<img>` lost its escape to the link.
AUTOLINK_BYPASSES = [
    "why www.example.com<img src=//evil.example/pixel.png> ?",
    "See www.example.com<img src=https://evil.example/p.png>",
    "ftp://x.com<img src=//evil.example/p.png>",
    "FTP://x.com<img src=//e/p.png>",
    "www.x.com*<img src=//e/p.png>",
    "**www.x.com**<img src=//e/p.png>",
    "_www.x.com_<img src=//e/p.png>",
    "~~www.x.com~~<img src=//e/p.png>",
    "(www.x.com)<img src=//e/p.png>",
    "| a |\n|---|\n| www.x.com<img src=//e/p.png> |",
    "| a |\n|---|\n| `www.x.com\\|<img src=//e/p.png>` |",
    "# www.x.com<img src=//e/p.png>",
    "> www.x.com<img src=//e/p.png>",
    "- www.x.com<img src=//e/p.png>",
    "www.x.com<a href=//github.com/o/r/issues/1>x</a>",
    "www.x.com<!-- hidden `-->` text",
    "www.x.com<details><summary>ok</summary>hidden</details>",
    "www.x.com\\\n<img src=//e/p.png>",
    "www.x.com<sub>@octocat</sub>",
    "www.<img src=//e/p.png>",
    "www..<img src=//e/p.png>",
    "a@b.co<img src=//e/p.png>",
    "mailto:a@b.co<img src=//e/p.png>",
    "xmpp:a@b.co/r<img src=//e/p.png>",
    "[www.x.com<img src=//e/p.png>](javascript:alert(1))",
    "[www.x.com<img src=//e/p.png>](https://github.com/o/r/issues/1)",
    "[w](ftp://x)ww.x.com<img src=//e/p.png>",
    "[ht](ftp://x)tp://x.com<img src=//e/p.png>",
]


@pytest.mark.parametrize("text", AUTOLINK_BYPASSES)
def test_an_autolink_github_makes_cannot_carry_an_image_or_html_through(text: str) -> None:
    out = safe_markdown(text)
    assert unexpected_tags(out) == []
    assert problems(out) == []
    assert "<img" in " ".join(shown(out).split()) or "img" not in text


@pytest.mark.parametrize(
    "text",
    [
        "www.github.com/o/r/issues/12",
        "see www.github.com/o/r/pull/3.",
        "(www.github.com/o/r/discussions/4)",
        "ftp://github.com/o/r/issues/1",
        "[](https://github.com/o/r/issues/1)",
        "[x](https://github.com/o/r/issues/1)",
        "| a |\n|---|\n| www.github.com/o/r/issues/1 |",
    ],
)
def test_an_issue_url_in_any_form_github_links_stays_inert(text: str) -> None:
    out = safe_markdown(text)
    assert [href for href in github_hrefs(out) if "/o/r/" in href] == []
    assert problems(out) == []
    assert "github.com/o/r/" in shown(out)


def test_a_www_address_keeps_its_text_and_links_where_github_would() -> None:
    out = safe_markdown("Docs at www.example.com/a_b(c), and *www.e.x*.")
    assert github_hrefs(out) == ["http://www.example.com/a_b%28c%29", "http://www.e.x"]
    assert shown(out) == "Docs at www.example.com/a_b(c) , and www.e.x ."


@pytest.mark.parametrize(
    "text", ["[@](ftp://x)octocat", "[#](ftp://x)12", "[GH](ftp://x)-7", "[tierbot](ftp://x):x"]
)
def test_a_link_text_left_alone_does_not_join_what_follows_into_a_mention_or_marker(
    text: str,
) -> None:
    out = safe_markdown(text)
    assert problems(out) == []
    assert not has_marker_text(out)


def test_an_email_address_is_not_made_a_link() -> None:
    out = safe_markdown("mail a@b.co, mailto:c@d.io or xmpp:e@f.io/x; a@-b.co")
    assert github_hrefs(out) == []
    assert shown(out) == "mail a@b.co, mailto:c@d.io or xmpp:e@f.io/x; a@-b.co"


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("www.x.com\\<img src=//e/p.png\\>", "an image"),
        ("ftp://x.com\\<img src=//e/p.png\\>", "an image"),
        ("**www.x.com**\\<img src=//e/p.png\\>", "an image"),
        ("| a |\n|---|\n| www.x.com\\|\\<img src=x\\> |", "an image"),
        (
            "www.github.com/o/r/issues/12",
            "a link that cross-references an issue: 'http://www.github.com/o/r/issues/12'",
        ),
        ("www.x.com\\<b>bold\\</b>", "raw HTML: '<b>'"),
        ("[x](javascript:alert(1))", "a link to 'javascript:alert(1)'"),
        ("[x](@octocat)", "a link to '@octocat'"),
        ("x[^1]\n\n[^1]: a note", "raw HTML: '<sup class=\"footnote-ref\">'"),
        ("- [ ] a task", 'raw HTML: \'<input type="checkbox" disabled="" />\''),
        ("<!-- x", "raw HTML: '<'"),
        ("a <!--> b", "raw HTML: '<!-->'"),
        ("hidden <!-- note --> text", "an HTML comment: 'note'"),
        ("<sub>&#64;octocat</sub>", "a live @mention"),
        ("tierbot&#58;paused", "text that reads as one of the bot's markers"),
        ("```Mermaid\nx\n```", "a 'Mermaid' block GitHub renders"),
    ],
)
def test_problems_reads_the_body_as_github_renders_it(body: str, found: str) -> None:
    assert found in problems(body, allowed_html=("<sub>", "</sub>"))


def test_problems_reads_text_with_a_lone_surrogate_instead_of_failing() -> None:
    """Diff lines are decoded with `surrogateescape`; the check must still answer."""
    assert problems("`x\udc80` and @octocat") == ["a live @mention"]


# --- properties -------------------------------------------------------------------------------


@PROPERTY
@given(markdownish)
def test_any_model_text_renders_with_no_image_html_mention_reference_or_marker(text: str) -> None:
    out = safe_markdown(text)
    assert problems(out) == []  # as GitHub's renderer makes it (cmark-gfm)
    assert unexpected_tags(out) == []
    assert [
        h for h in github_hrefs(out) if not re.match(r"(?i)(https?:|mailto:|[a-z0-9/.#])", h)
    ] == []
    tree = walk(parse(out))  # as the CommonMark parser the writer reads with makes it
    assert not [n for n in tree if n.type in ("image", "html_inline", "html_block")]
    assert mentions_outside_code(out) == []
    assert not has_marker_text(out)


@PROPERTY
@given(markdownish)
def test_every_letter_a_reader_saw_in_the_model_text_is_still_there_in_order(text: str) -> None:
    seen = re.sub(r"[^A-Za-z0-9]", "", visible(text))
    shown = iter(re.sub(r"[^A-Za-z0-9]", "", visible(safe_markdown(text))))
    assert all(char in shown for char in seen)  # a subsequence: nothing lost, nothing reordered


@PROPERTY
@given(st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=80))
def test_plain_text_renders_as_the_text_itself(text: str) -> None:
    out = plain_text(text)
    assert problems(out) == []
    if "://" not in text:  # a URL is shown as a link, whose text GitHub may decode
        assert shown(out) == " ".join(text.replace(ZWJ, "").split())


@PROPERTY
@given(
    st.text(st.characters(exclude_categories=["Cs", "Cc"], include_characters="\n\t")),
    st.sampled_from(["", "py", "suggestion"]),
)
def test_a_code_block_holds_its_text_exactly(text: str, language: str) -> None:
    (fence,) = [n for n in walk(parse(code_block(text, language))) if n.type == "fence"]
    assert fence.content == (text if text.endswith("\n") or not text else text + "\n")
    assert fence.info == language
