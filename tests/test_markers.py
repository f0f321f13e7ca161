"""The bot's hidden markers: signed, bound to what they mark, believed only where the bot writes
them; nothing a model or a user can write is believed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.markdown.safe import safe_markdown
from bot.core.markers import (
    PAUSED_MARKER,
    SUMMARY_MARKER,
    Markers,
    SummaryState,
    comment_marker,
    head_marker,
    marker_key,
)

KEY = marker_key("It's a Secret to Everybody")
MARKERS = Markers(KEY, "Codertocat/Hello-World", 2)
HEAD = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
TEXT = "## tierbot review\n\nReviewed.\n"


def test_a_signed_summary_header_is_read_back_with_its_text() -> None:
    state = SummaryState(HEAD, paused=True)
    body = MARKERS.summary_body(TEXT, state)
    assert body.startswith(f"{SUMMARY_MARKER}\n{head_marker(HEAD)}\n{PAUSED_MARKER}\n")
    assert MARKERS.read_summary(body) == (state, TEXT)
    assert MARKERS.read_summary(MARKERS.summary_body(TEXT, SummaryState())) == (
        SummaryState(),
        TEXT,
    )


def test_a_header_copied_to_another_pr_or_repo_or_signed_with_another_key_says_nothing() -> None:
    body = MARKERS.summary_body(TEXT, SummaryState(HEAD, paused=True))
    for other in (
        Markers(KEY, "Codertocat/Hello-World", 3),
        Markers(KEY, "Codertocat/Other", 2),
        Markers(marker_key("another secret"), "Codertocat/Hello-World", 2),
        Markers(marker_key(None), "Codertocat/Hello-World", 2),
    ):
        assert other.read_summary(body) == (SummaryState(), TEXT)


def test_a_header_with_a_changed_head_or_an_added_pause_says_nothing() -> None:
    body = MARKERS.summary_body(TEXT, SummaryState(HEAD))
    moved = body.replace(HEAD, "0" * 40)
    assert MARKERS.read_summary(moved)[0] == SummaryState()
    paused = body.replace(SUMMARY_MARKER, f"{SUMMARY_MARKER}\n{PAUSED_MARKER}", 1)
    assert MARKERS.read_summary(paused)[0] == SummaryState()


def test_an_earlier_versions_unsigned_header_is_the_summary_but_vouches_for_nothing() -> None:
    legacy = f"{SUMMARY_MARKER}\n{head_marker(HEAD)}\n{PAUSED_MARKER}\n{TEXT}"
    assert MARKERS.read_summary(legacy) == (SummaryState(), TEXT)
    upgraded = MARKERS.summary_body(MARKERS.read_summary(legacy)[1], SummaryState(HEAD))
    assert MARKERS.read_summary(upgraded) == (SummaryState(HEAD), TEXT)


def test_the_repo_is_matched_whatever_its_case() -> None:
    body = MARKERS.summary_body(TEXT, SummaryState(HEAD))
    assert Markers(KEY, "codertocat/hello-world", 2).read_summary(body)[0] == SummaryState(HEAD)


def test_a_fingerprint_is_believed_only_signed_for_this_pull_request_at_the_end() -> None:
    trailer = MARKERS.comment_trailer("0123456789abcdef")
    assert MARKERS.fingerprint(f"Nit.\n\n{trailer}\n") == "0123456789abcdef"
    assert MARKERS.fingerprint(f"Nit.\n\n{comment_marker('0123456789abcdef')}") is None
    assert MARKERS.fingerprint(f"{trailer}\n\nNit.") is None
    assert Markers(KEY, "Codertocat/Hello-World", 9).fingerprint(f"Nit.\n{trailer}") is None
    forged = trailer.replace("0123456789abcdef", "fedcba9876543210")
    assert MARKERS.fingerprint(f"Nit.\n{forged}") is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_no_model_or_user_text_reads_as_a_verified_marker(before: str, after: str) -> None:
    """Even text that quotes a real signed header and trailer does not vouch for anything once
    it is made safe to post: the marker text does not survive."""
    header = MARKERS.summary_body("", SummaryState(HEAD, paused=True))
    trailer = MARKERS.comment_trailer("0123456789abcdef")
    posted = safe_markdown(before + header + after + trailer)
    assert MARKERS.read_summary(posted)[0] == SummaryState()
    assert MARKERS.fingerprint(posted) is None
    assert "tierbot:" not in posted
