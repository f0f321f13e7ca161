"""What a face asks of the pipeline (`Request`) and what it gets back (`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.adapters.github import PullRef
from bot.core.anchor import Comment
from bot.core.cost import Spend
from bot.core.packing import Coverage
from bot.core.render import Estimates
from bot.core.result import ReviewResult
from bot.core.routing import Decision, Task, Tier


@dataclass(frozen=True, slots=True)
class Request:
    """One piece of work on one pull request.

    `trigger` says what asked (an event's action, `/review`); `full` reviews the whole pull
    request instead of the commits since the last review; `override` forces a tier; `forced`
    reviews a commit that was already reviewed; `dry_run` posts nothing and returns what would
    be posted. `asked_by` is who asked by command (login, author association): they pay, and
    only write access lifts a pause; `asked_at` is when the command was queued (the queue's
    clock). `task` is the work (a review, or the routing of a question); `fork` keeps the
    local model (on a self-hosted runner) out of the decision."""

    ref: PullRef
    trigger: str = ""
    full: bool = False
    override: Tier | None = None
    forced: bool = False
    dry_run: bool = False
    installation_id: int | None = None
    asked_by: tuple[str, str | None] | None = None
    asked_at: float | None = None
    task: Task = Task.REVIEW
    fork: bool = False


class Status(StrEnum):
    """How a piece of work ended."""

    REVIEWED = "reviewed"
    NOTHING = "nothing to review"
    SKIPPED = "skipped"
    FAILED = "failed"
    REFUSED = "refused"
    REPLIED = "replied"
    IGNORED = "ignored"
    NOTICED = "noticed"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the pipeline did (or, for a dry run, would have done) and why.

    `reason` says why in words; `tier` and `model` are those the review ended on (after any
    escalation); `spend` what it cost; `comments` the inline comments posted (or that would be);
    `dropped` those GitHub refused, with why; `summary` the summary comment's body and `reply`
    a reply to the pull request, as posted (or that would be). `decision`, `estimates`,
    `coverage` and `excluded` are what `prepare` found; `result` the review's own result."""

    status: Status
    reason: str = ""
    tier: Tier | None = None
    model: str | None = None
    spend: Spend | None = None
    comments: tuple[Comment, ...] = ()
    dropped: tuple[str, ...] = ()
    summary: str | None = None
    reply: str | None = None
    decision: Decision | None = None
    estimates: Estimates | None = None
    coverage: tuple[Coverage, ...] = ()
    excluded: tuple[str, ...] = ()
    result: ReviewResult | None = field(default=None, repr=False)

    def __str__(self) -> str:
        """The outcome in one line, as the queue records it and the logs show it."""
        if self.status is Status.DONE:
            return self.reason
        if self.status is Status.REVIEWED:
            return f"reviewed by {self.tier}: {self.reason}"
        return f"{self.status}: {self.reason}" if self.reason else str(self.status)
