"""The hidden HTML markers tierbot leaves in its own comments, and how to read them back.

They are how the bot finds its summary to edit it, knows which commit it last reviewed and
whether automatic reviews are paused, and never repeats an inline comment. Model output has its
HTML neutralised before posting (bot.review.anchor), so a review cannot forge them.
"""

from __future__ import annotations

import re

SUMMARY_MARKER = "<!-- tierbot:summary -->"
PAUSED_MARKER = "<!-- tierbot:paused -->"
_HEAD = re.compile(r"<!-- tierbot:head=([0-9a-f]{7,64}) -->")
_FINGERPRINT = re.compile(r"<!-- tierbot:fp=([0-9a-f]{16}) -->")


def head_marker(sha: str) -> str:
    """The marker that records the commit a summary reports on."""
    return f"<!-- tierbot:head={sha} -->"


def reviewed_head(body: str) -> str | None:
    """The head commit an earlier summary says was reviewed, or None."""
    match = _HEAD.search(body)
    return match[1] if match else None


def comment_marker(fingerprint: str) -> str:
    """The hidden marker that ends an inline comment with this fingerprint (16 hex digits)."""
    if not re.fullmatch(r"[0-9a-f]{16}", fingerprint):
        raise ValueError(f"not a comment fingerprint: {fingerprint!r}")
    return f"<!-- tierbot:fp={fingerprint} -->"


def markers_in(body: str) -> set[str]:
    """The fingerprints in the inline-comment markers of a comment body."""
    return set(_FINGERPRINT.findall(body))


def set_paused(body: str, paused: bool) -> str:
    """A summary body with the paused marker put right after the summary marker, or taken out."""
    body = re.sub(r"\n?" + re.escape(PAUSED_MARKER), "", body)
    if paused:
        body = body.replace(SUMMARY_MARKER, f"{SUMMARY_MARKER}\n{PAUSED_MARKER}", 1)
    return body
