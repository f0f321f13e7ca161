"""Which of a review's comments are posted, and why each of the others is held back.

Pure. After anchoring (bot.core.anchor), a review's comments pass these rules in order; each
comment held back keeps its reason, for the summary and the ledger:

1. `settled`: a person answered the bot's comment on the same point, or resolved its thread, on
   an earlier commit: a comment on the same file whose words mostly match (`similar`) is not
   made again, however it is worded this time, wherever the code has moved;
2. `repeat`: the bot made the same comment on an earlier commit: the same fingerprint, or the
   same point (`similar`) on the same line of the same file as it stands now;
3. `below-severity`: less severe than the repo's `review.min_severity` (default minor: nits are
   counted in the summary, not posted);
4. `unsure`: the local model was unsure while writing it (bot.core.confidence, the repo's own
   escalation thresholds);
5. `unconfirmed`, `duplicate`: checking it against the diff found no such problem, or the same
   point in another comment (bot.core.verification, bot.pipeline.verify);
6. over the cap (`review.max_comments`): the most severe are kept, and among equals the ones the
   model was surest of (the local model's token entropy), then the first in the diff. These are
   counted as capped (bot.core.anchor.Anchored), not held back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.anchor import Comment, position
from bot.core.answer_schema import Severity
from bot.core.confidence import CommentConfidence
from bot.core.diff import ChangeSet
from bot.core.markers import is_marker_line

SIMILAR_WORDS = 0.5
"""The share of words two comments on one file must have in common (of all the words either
has) to make the same point."""


class HeldReason(StrEnum):
    """Why a comment was not posted."""

    SETTLED = "settled"
    REPEAT = "repeat"
    BELOW_SEVERITY = "below-severity"
    UNSURE = "unsure"
    UNCONFIRMED = "unconfirmed"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class HeldComment:
    """A comment held back, and why."""

    comment: Comment
    reason: HeldReason


@dataclass(frozen=True, slots=True)
class EarlierComment:
    """One of the bot's inline comments already on the pull request: its fingerprint, file and
    text, whether a person answered it in its thread or resolved the thread (`settled`), and
    its line and side on the pull request's head now (None: outdated, or not known)."""

    fingerprint: str
    path: str
    body: str
    settled: bool = False
    line: int | None = None
    side: str | None = None
    words: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Read once: every new comment of a review is compared with every earlier one.
        object.__setattr__(self, "words", _words(self.body))


@dataclass(frozen=True, slots=True)
class Earlier:
    """The bot's inline comments already on the pull request."""

    comments: tuple[EarlierComment, ...] = ()

    def made(self, comment: Comment) -> bool:
        """Whether the bot made this comment before: the same fingerprint, or the same point on
        the same line of the same file."""
        words = _words(comment.body)
        return any(
            e.fingerprint == comment.fingerprint
            or (
                (e.path, e.line, e.side) == (comment.path, comment.line, str(comment.side))
                and similar(words, e.words)
            )
            for e in self.comments
        )

    def settled(self, comment: Comment) -> bool:
        """Whether a person answered or resolved the bot's comment on the same point before."""
        words = _words(comment.body)
        return any(
            e.settled and e.path == comment.path and similar(words, e.words) for e in self.comments
        )


def screen(
    comments: Iterable[Comment],
    *,
    min_severity: Severity,
    earlier: Earlier | None = None,
    confidence: Mapping[str, CommentConfidence] | None = None,
) -> tuple[list[Comment], list[HeldComment]]:
    """Rules 1-4 of the module docstring: the comments kept and those held back."""
    known = earlier or Earlier()
    sure = confidence or {}
    kept: list[Comment] = []
    held: list[HeldComment] = []
    for comment in comments:
        reason = None
        if known.settled(comment):
            reason = HeldReason.SETTLED
        elif known.made(comment):
            reason = HeldReason.REPEAT
        elif comment.severity.rank > min_severity.rank:
            reason = HeldReason.BELOW_SEVERITY
        elif (found := sure.get(comment.fingerprint)) is not None and found.doubt is not None:
            reason = HeldReason.UNSURE
        if reason is None:
            kept.append(comment)
        else:
            held.append(HeldComment(comment, reason))
    return kept, held


def capped(
    comments: Sequence[Comment],
    max_comments: int,
    changes: ChangeSet,
    confidence: Mapping[str, CommentConfidence] | None = None,
) -> tuple[tuple[Comment, ...], int]:
    """Rule 6: at most `max_comments`, in diff order, and how many were left over."""
    sure = confidence or {}

    def rank(comment: Comment) -> tuple[int, float, tuple[int, int, int]]:
        found = sure.get(comment.fingerprint)
        entropy = found.mean_entropy if found is not None else None
        # Unknown confidence ranks after any known one; a thousandth of a nat is noise.
        doubt = math.inf if entropy is None else round(entropy, 3)
        return comment.severity.rank, doubt, position(changes, comment)

    kept = sorted(comments, key=rank)[:max_comments]
    return tuple(sorted(kept, key=lambda c: position(changes, c))), len(comments) - len(kept)


def similar(one: frozenset[str], other: frozenset[str]) -> bool:
    """Whether two comments' words overlap enough to make the same point (`SIMILAR_WORDS`)."""
    union = one | other
    return bool(union) and len(one & other) / len(union) >= SIMILAR_WORDS


_STOP_WORDS = frozenset(
    "the and for with this that these those are was were not but can you use its from into "
    "when will would should could have has had may might here there then than also".split()
)
_SMALL_PRINT = re.compile(r"<sub>.*?</sub>", re.DOTALL)
_SUGGESTION = re.compile(r"```suggestion.*?(?:```|$)", re.DOTALL)


def _words(body: str) -> frozenset[str]:
    """A comment's words, without its markers, small print and suggestion block."""
    text = "\n".join(line for line in body.split("\n") if not is_marker_line(line.strip()))
    text = _SUGGESTION.sub(" ", _SMALL_PRINT.sub(" ", text))
    return frozenset(
        word
        for word in re.findall(r"[a-z0-9_]+", text.lower())
        if len(word) >= 3 and word not in _STOP_WORDS
    )
