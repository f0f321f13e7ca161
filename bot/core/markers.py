"""The hidden HTML markers tierbot leaves in its own comments, signed so that only it can make them.

They are the bot's state on a pull request: the summary comment opens with a header of marker
lines saying it is the summary, which commit was last reviewed and whether automatic reviews
are paused; each inline comment ends with its fingerprint, so no remark is made twice.

Anyone can read a comment's Markdown through the API and type the same text, and a model can be
asked to, so a marker is believed only when all of this holds:

- it is in a comment the bot itself wrote (bot.adapters.github reads state from no other author);
- it is where only the bot writes: the header is the comment's first lines, the fingerprint
  its last ones;
- its block ends with `<!-- tierbot:sig=… -->`, an HMAC-SHA256 (128 bits shown) over the
  repository, the pull request's number and the block's lines (head commit and fingerprint
  included), with a key only the bot has: a marker copied from another pull request, another
  commit or another installation, or typed by hand, does not verify.

Model and user text never carries marker text in the first place (bot.core.markdown.safe breaks
`tierbot:` wherever it appears). A header that does not verify (an earlier version's unsigned
markers, or a key that changed) still identifies the summary comment, which is edited in place,
but none of its state is believed: the next review covers the whole pull request, and a pause
must be asked for again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

SUMMARY_MARKER = "<!-- tierbot:summary -->"
PAUSED_MARKER = "<!-- tierbot:paused -->"
_HEAD = re.compile(r"<!-- tierbot:head=([0-9a-f]{7,64}) -->")
_FINGERPRINT = re.compile(r"<!-- tierbot:fp=([0-9a-f]{16}) -->")
_SIGNATURE = re.compile(r"<!-- tierbot:sig=([0-9a-f]{32}) -->")
_MARKER_LINE = re.compile(r"<!-- tierbot:[a-z]+(?:=[0-9a-f]+)? -->")
_LABEL = b"tierbot hidden markers v1"
# HTML the bot's own messages use: its markers, and the tags of its summary's small print and
# folded lists. bot.adapters.github refuses any other raw HTML in what it posts.
OWN_HTML = ("<sub>", "</sub>", "<details>", "</details>", "<summary>", "</summary>")


def marker_key(secret: str | None) -> bytes:
    """The key markers are signed with: derived from the App's webhook secret (which only GitHub
    and this App know), or, with no secret (the Action, whose jobs share none), a fixed public
    key. Public-key markers are still bound to their repo, PR and commit, but anyone who can
    post as the bot's login could make them: in the Action that login is `github-actions[bot]`,
    which only the repository's own workflows can post as."""
    if secret is None:
        return hashlib.sha256(_LABEL + b": no secret").digest()
    return hmac.new(secret.encode(), _LABEL, hashlib.sha256).digest()


def head_marker(sha: str) -> str:
    """The marker line that records the commit a summary reports on."""
    if not re.fullmatch(r"[0-9a-f]{7,64}", sha):
        raise ValueError(f"not a commit SHA: {sha!r}")
    return f"<!-- tierbot:head={sha} -->"


def comment_marker(fingerprint: str) -> str:
    """The marker line that ends an inline comment with this fingerprint (16 hex digits)."""
    if not re.fullmatch(r"[0-9a-f]{16}", fingerprint):
        raise ValueError(f"not a comment fingerprint: {fingerprint!r}")
    return f"<!-- tierbot:fp={fingerprint} -->"


def is_marker_line(line: str) -> bool:
    """Whether a line has the shape of one of the bot's marker lines (signed or not)."""
    return _MARKER_LINE.fullmatch(line) is not None or _SIGNATURE.fullmatch(line) is not None


@dataclass(frozen=True, slots=True)
class SummaryState:
    """What a verified summary header says: the last reviewed commit and whether paused."""

    head: str | None = None
    paused: bool = False


@dataclass(frozen=True, slots=True)
class Markers:
    """The markers of one pull request, signed with one key."""

    key: bytes
    repo: str  # OWNER/REPO
    number: int

    def summary_body(self, text: str, state: SummaryState) -> str:
        """The summary comment: its signed header, then `text`."""
        lines = [SUMMARY_MARKER]
        if state.head is not None:
            lines.append(head_marker(state.head))
        if state.paused:
            lines.append(PAUSED_MARKER)
        return "\n".join([*lines, self._signature(lines)]) + "\n" + text.lstrip("\n")

    def read_summary(self, body: str) -> tuple[SummaryState, str]:
        """The state a summary comment's header vouches for, and the text after the header. A
        header that does not verify vouches for nothing: (SummaryState(), text)."""
        lines = body.split("\n")
        count = 0
        while count < len(lines) and is_marker_line(lines[count].strip()):
            count += 1
        header = [line.strip() for line in lines[:count]]
        text = "\n".join(lines[count:])
        if len(header) < 2 or header[0] != SUMMARY_MARKER or not self._verifies(header):
            return SummaryState(), text
        state = SummaryState()
        for line in header[1:-1]:
            head = _HEAD.fullmatch(line)
            if head is not None and state.head is None:
                state = SummaryState(head[1], state.paused)
            elif line == PAUSED_MARKER:
                state = SummaryState(state.head, True)
            else:
                return SummaryState(), text  # a line out of place: not a header the bot wrote
        return state, text

    def comment_trailer(self, fingerprint: str) -> str:
        """The signed lines that end an inline comment with this fingerprint."""
        lines = [comment_marker(fingerprint)]
        return "\n".join([*lines, self._signature(lines)])

    def fingerprint(self, body: str) -> str | None:
        """The fingerprint a comment's signed trailer vouches for, or None."""
        lines = body.rstrip().split("\n")
        if len(lines) < 2:
            return None
        trailer = [line.strip() for line in lines[-2:]]
        found = _FINGERPRINT.fullmatch(trailer[0])
        if found is None or not self._verifies(trailer):
            return None
        return found[1]

    def _signature(self, lines: list[str]) -> str:
        return f"<!-- tierbot:sig={self._mac(lines)} -->"

    def _mac(self, lines: list[str]) -> str:
        scope = f"{self.repo.casefold()}#{self.number}"
        message = "\n".join([scope, *lines]).encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]

    def _verifies(self, block: list[str]) -> bool:
        signature = _SIGNATURE.fullmatch(block[-1])
        if signature is None:
            return False
        return hmac.compare_digest(signature[1], self._mac(block[:-1]))
