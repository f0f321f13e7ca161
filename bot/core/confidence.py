"""Whether the local model's review can stand, or the frontier model should redo it.

Pure: a local Completion, the reading of its answer and the anchoring result in; a verdict with
reasons out. Signals: the answer is not valid JSON or not the schema; it cites files or lines
the diff does not show; the model was unsure while writing it (high mean token entropy, or a
high entropy quantile: a few very uncertain tokens); it hedges in words. The one escalation
policy: a review (`judge`) and an answer to a question (`unsure`, used by `/ask`) are measured
against the same `Thresholds`, from the repo's `escalation` settings, and so is each comment of
a local review that stands (`comment_confidence`): a comment the model was unsure of while
writing it is held back, and the others are ranked by how sure it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.anchor import Anchored
from bot.core.answer_schema import ModelReview, comment_spans
from bot.core.counts import counted
from bot.core.types import Completion, TokenStats


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When to escalate. Defaults are documented in the README; settings may override them.

    Entropies are in nats per generated token. Greedy JSON output from a confident 7-14B model
    averages well under 0.5; a mean above 1.0, or a 95th percentile above 3.0 (the model
    choosing among ~20 equally likely tokens at its least sure points), marks a guess.
    """

    mean_entropy: float = 1.0
    entropy_quantile: float = 0.95
    quantile_entropy: float = 3.0
    max_unanchored_share: float = 0.34
    max_hedges: int = 2
    max_schema_problems: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a local review is redone by the frontier model, and every signal that said so.

    `mean_entropy` and `quantile_entropy` are the measured token entropies (None when the
    backend gave none); `hedges` counts hedging phrases in the review's text.
    """

    escalate: bool
    reasons: tuple[str, ...]
    mean_entropy: float | None = None
    quantile_entropy: float | None = None
    hedges: int = 0


_HEDGES = re.compile(
    r"(?i)\b(?:i(?:'m| am) not (?:sure|certain)|not sure|unclear (?:whether|if)|might be|"
    r"may or may not|possibly|perhaps|it seems|seems to|i think|i believe|hard to (?:say|tell)|"
    r"without more context|cannot (?:determine|tell)|can't (?:determine|tell)|unsure)\b"
)


def judge(
    completion: Completion,
    review: ModelReview,
    anchored: Anchored,
    thresholds: Thresholds | None = None,
) -> Verdict:
    """Escalate when any signal crosses its threshold; every crossing is a reason."""
    limits = thresholds or Thresholds()
    reasons: list[str] = []
    if not review.valid:
        reasons.append("the answer was not usable: " + "; ".join(review.problems[:3]))
    elif len(review.problems) > limits.max_schema_problems:
        reasons.append(
            f"{counted(len(review.problems), 'part')} of the answer did not follow the schema "
            f"({review.problems[0]})"
        )
    cited = len(review.comments)
    unanchored = anchored.dropped_total + anchored.moved
    if cited and unanchored / cited > limits.max_unanchored_share:
        reasons.append(
            f"{unanchored} of {counted(cited, 'comment')} cited files or lines the diff does "
            "not show"
        )
    mean = quantile = None
    stats = completion.token_stats
    if stats is not None and stats.entropies:
        mean = stats.mean
        quantile = stats.quantile(limits.entropy_quantile)
    doubt = unsure(stats, limits)
    if doubt is not None:
        reasons.append(doubt)
    text = review.summary + "\n" + "\n".join(c.body for c in review.comments)
    found = _HEDGES.findall(text)
    if len(found) > limits.max_hedges:
        reasons.append(f'the review hedges {len(found)} times ("{found[0]}", …)')
    return Verdict(bool(reasons), tuple(reasons), mean, quantile, len(found))


def unsure(stats: TokenStats | None, thresholds: Thresholds | None = None) -> str | None:
    """Why the model was unsure while writing, or None: mean or quantile entropy over its limit.

    No token statistics (a frontier model, or a backend that gives none) is not doubt.
    """
    limits = thresholds or Thresholds()
    if stats is None or not stats.entropies:
        return None
    mean = stats.mean
    if mean > limits.mean_entropy:
        return (
            f"the model was unsure: mean token entropy {mean:.2f} nats "
            f"(limit {limits.mean_entropy:.2f})"
        )
    quantile = stats.quantile(limits.entropy_quantile)
    if quantile > limits.quantile_entropy:
        percent = round(limits.entropy_quantile * 100)
        return (
            f"the model was unsure at points: {percent}th percentile token entropy "
            f"{quantile:.2f} nats (limit {limits.quantile_entropy:.2f})"
        )
    return None


@dataclass(frozen=True, slots=True)
class CommentConfidence:
    """How sure the model was while writing one comment: the mean entropy of the comment's own
    tokens (None when unknown), and why it was unsure by the repo's `Thresholds` (None: it was
    not, or that is unknown)."""

    mean_entropy: float | None = None
    doubt: str | None = None


def comment_confidence(
    completion: Completion, review: ModelReview, thresholds: Thresholds | None = None
) -> tuple[CommentConfidence, ...]:
    """Each of `review.comments`' confidence, from the tokens the model wrote for it (its item
    in the answer's comment list), measured by `unsure` against the same thresholds as the
    whole review. Unknown (all None) for a backend without per-token statistics and offsets, or
    an answer whose comment list cannot be found in its text."""
    unknown = tuple(CommentConfidence() for _ in review.comments)
    stats = completion.token_stats
    if stats is None or not stats.offsets or len(review.indices) != len(review.comments):
        return unknown
    spans = comment_spans(completion.text)
    parsed = completion.parsed
    items = parsed.get("comments") if isinstance(parsed, dict) else None
    if not isinstance(items, list) or len(spans) != len(items):
        return unknown
    found: list[CommentConfidence] = []
    for index in review.indices:
        own = stats.between(*spans[index])
        if not own.entropies:
            found.append(CommentConfidence())
            continue
        found.append(CommentConfidence(own.mean, unsure(own, thresholds)))
    return tuple(found)
