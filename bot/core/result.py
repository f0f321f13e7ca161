"""What a review produces: each tier's attempt with its usage and time, and the finished result.

Plain data, shared by the reviewer (bot.pipeline.review) that makes them and the summary, rendering
and
ledger that read them, so none of those depends on the reviewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.core.anchor import Anchored, Comment
from bot.core.confidence import Verdict
from bot.core.guidance import Guidance
from bot.core.packing import Coverage
from bot.core.routing import Decision, Tier
from bot.core.selection import HeldComment, HeldReason
from bot.core.types import Usage


@dataclass(frozen=True, slots=True)
class Attempt:
    """One tier's try at the review: all its requests together."""

    tier: Tier
    model: str
    parts: int
    usage: Usage
    wall_seconds: float
    gpu_seconds: float
    errors: tuple[str, ...] = ()
    verdict: Verdict | None = None
    prompt_tokens_estimate: int = 0


@dataclass(frozen=True, slots=True)
class Verification:
    """What checking a review's comments against the diff came to (bot.pipeline.verify).

    `checked` comments were to be checked; each was `confirmed`, found `unconfirmed`, a
    duplicate of another (`duplicates`), or got no usable verdict (`unchecked`: posted, marked
    as not checked, with `failure` saying why). `attempt` holds the checking requests, with
    their tokens and time (None when none was sent).
    """

    checked: int
    confirmed: int = 0
    unconfirmed: int = 0
    duplicates: int = 0
    unchecked: int = 0
    model: str = ""
    attempt: Attempt | None = None
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """A finished review: the comments to post and the summary, on the tier whose review stood,
    with every attempt and its cost, each file's coverage and what anchoring dropped.

    `escalation` says why a local review was redone by the frontier model; `failed` why there
    is no review (`transient` when it is worth trying later); `problems` are where the model's
    answers broke the schema; `redactions` counts the secrets replaced before any model saw the
    change; `secrets` are the comments on committed secrets, posted even when the review failed.
    `held` are the comments not posted and why (bot.core.selection); `verification` what checking
    the comments found (None when they were not checked); `guidance` is the repository's guidance
    the review's prompts carried (None: no model ran).
    """

    decision: Decision
    tier: Tier
    model: str
    comments: tuple[Comment, ...]
    summary: str
    coverage: tuple[Coverage, ...]
    attempts: tuple[Attempt, ...]
    anchored: Anchored
    escalation: tuple[str, ...] = ()
    failed: str | None = None
    transient: bool = False
    problems: tuple[str, ...] = field(default=())
    redactions: int = 0
    secrets: tuple[Comment, ...] = ()
    held: tuple[HeldComment, ...] = ()
    verification: Verification | None = None
    guidance: Guidance | None = None

    def held_for(self, reason: HeldReason) -> tuple[HeldComment, ...]:
        """The comments held back for `reason`."""
        return tuple(h for h in self.held if h.reason is reason)

    @property
    def all_attempts(self) -> tuple[Attempt, ...]:
        """Every request made: the review's attempts, then the checking of its comments."""
        check = self.verification.attempt if self.verification is not None else None
        return (*self.attempts, *((check,) if check is not None else ()))
