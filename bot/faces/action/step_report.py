"""What the action decided (`Dispatch`: what the event asks of a runner) and what came of it
(`StepReport`), for the outputs, the step summary and the exit code."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from bot.core.job import Job
from bot.core.render import Estimates
from bot.core.routing import Decision, Tier
from bot.faces.action.inputs import EXIT_OK, Mode
from bot.pipeline.prepare import Prepared
from bot.pipeline.request import Outcome, Status


@dataclass(frozen=True, slots=True)
class Dispatch:
    """What the event asks of a runner. `tier` is the model's (None: no model is needed);
    `work` is False when there is nothing to do at all (nothing to post either); `estimates`
    are what a review would cost on each tier; `fork` is True for a fork's pull request, which
    never gets the local tier's (self-hosted) runner. `prepared` is what the pipeline prepared
    on this runner, to review without fetching it again."""

    job: Job | None
    reasons: tuple[str, ...]
    work: bool
    tier: Tier | None = None
    decision: Decision | None = None
    estimates: Estimates | None = None
    fork: bool = False
    prepared: Prepared | Outcome | None = field(default=None, repr=False)


@dataclass
class StepReport:
    """What happened: the dispatch, the runner the next job gets, the pipeline's outcome (None in
    route mode, which runs no model), and the failure and exit code."""

    mode: Mode
    dispatch: Dispatch
    runs_on: str = ""
    routed_tier: Tier | None = None
    outcome: Outcome | None = None
    note: str = ""
    failure: str | None = None
    code: int = EXIT_OK

    @property
    def text(self) -> str:
        """The outcome in one line."""
        return str(self.outcome) if self.outcome is not None else self.note

    @property
    def tier(self) -> Tier | None:
        """The tier the work ended on (after any escalation), else the one planned."""
        if self.outcome is not None and self.outcome.status is Status.REVIEWED:
            return self.outcome.tier
        if self.outcome is not None and self.outcome.status is Status.FAILED and self.outcome.tier:
            return self.outcome.tier
        return self.dispatch.tier

    @property
    def model(self) -> str:
        """The model the work ended on, else the one planned ("" when none)."""
        if self.outcome is not None and self.outcome.model and self.tier is self.outcome.tier:
            return self.outcome.model
        decision = self.dispatch.decision
        return decision.model if decision is not None and decision.tier is self.tier else ""

    @property
    def spent_usd(self) -> Decimal:
        """What the work cost."""
        spend = self.outcome.spend if self.outcome is not None else None
        return spend.spent_usd if spend is not None else Decimal(0)

    @property
    def baseline_usd(self) -> Decimal | None:
        """What the all-frontier review of the same work would have cost (None: no request)."""
        spend = self.outcome.spend if self.outcome is not None else None
        return spend.baseline_usd if spend is not None else None

    def outputs(self) -> dict[str, str]:
        """The step's outputs, by name."""
        tier = self.tier
        decision = self.dispatch.decision
        posted = self.outcome.comments if self.outcome is not None else ()
        return {
            "tier": str(tier) if tier is not None else "none",
            "score": str(decision.score) if decision is not None else "",
            "reasons": "\n".join(self.dispatch.reasons),
            "runs-on": self.runs_on,
            "cost-usd": f"{self.spent_usd.quantize(Decimal('0.0001'))}",
            "comments": str(len(posted)),
        }
