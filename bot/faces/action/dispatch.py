"""The route step: what an event's job asks of a runner, decided by the pipeline's own
`prepare` (the skip rules, the settings, the diff, who pays, the budgeted decision and the
estimates) without running a model or posting anything."""

from __future__ import annotations

from dataclasses import replace

from bot.adapters.settings import Settings, models_for
from bot.core.job import Job
from bot.core.routing import Models, Task, Tier
from bot.core.trust import may_write
from bot.faces.action.inputs import Inputs
from bot.faces.action.step_report import Dispatch
from bot.pipeline.allowance import decide_among
from bot.pipeline.commands import request_for
from bot.pipeline.prepare import prepare
from bot.pipeline.request import Outcome
from bot.pipeline.services import GitHubClient, Services


async def dispatch_for(
    github: GitHubClient,
    job: Job,
    services: Services,
    *,
    override: Tier | None = None,
    fork: bool = False,
    routed: Models | None = None,
) -> Dispatch:
    """What `job` asks of a runner, as the pipeline prepares it with `services`; the tier among
    `routed` models when given (the route step's: both tiers, each on its own runner) instead
    of the services' own. `override` is the workflow's `tier` input, for a review job."""
    request = request_for(job)
    if job.kind == "command":
        payload = job.payload
        name = str(payload.get("command", "help"))
        args = [str(a) for a in payload.get("args", [])]
        user = str(payload.get("user", ""))
        association = payload.get("author_association")
        asker = (user, association if isinstance(association, str) else None)
        if payload.get("needs_permission_check") and not await may_write(
            github, job.owner, job.repo, *asker
        ):
            words = " ".join([f"/{name}", *args])
            why = f"@{user} has no write access, which `{words}` needs: the refusal needs no model"
            return Dispatch(job, (why,), work=True)
        if request is None:
            return Dispatch(job, (f"`/{name}` needs no model",), work=True)
    if request is None:
        return Dispatch(job, (f"a {job.kind} job needs no model",), work=True)
    if job.kind == "review" and override is not None:
        request = replace(request, override=override)
    request = replace(request, fork=fork)
    prepared = await prepare(github, request, services)
    if isinstance(prepared, Outcome):
        decision = prepared.decision
        reasons: tuple[str, ...] = (prepared.reason,)
        if decision is not None and decision.error is not None:
            reasons = (*decision.reasons, f"it cannot be reviewed: {decision.error}")
        # Something to say on the pull request still needs a runner to say it.
        work = prepared.summary is not None or prepared.reply is not None
        return Dispatch(job, reasons, work, None, decision, prepared.estimates, fork, prepared)
    decision = prepared.decision
    if routed is not None:
        decision = decide_among(
            prepared.decided, prepared.change, prepared.repo, request, prepared.policy, routed
        )
    estimates = prepared.estimates if request.task is Task.REVIEW else None
    if decision.error is not None:
        reasons = (*decision.reasons, f"it cannot be reviewed: {decision.error}")
        return Dispatch(job, reasons, True, None, decision, estimates, fork, prepared)
    return Dispatch(job, decision.reasons, True, decision.tier, decision, estimates, fork, prepared)


def route_models(inputs: Inputs, settings: Settings) -> Models:
    """The models the route step assumes: both tiers, each on its own runner (the local one
    only when there is a GPU runner), whatever this runner has."""
    no_gpu = None if inputs.local_runs_on is not None else "no GPU runner (local-runs-on is empty)"
    return models_for(settings, local_unavailable=no_gpu)


def runs_on(dispatch: Dispatch, inputs: Inputs) -> str:
    """The runner labels (JSON) for the next job: the GPU runner for the local tier (never for a
    fork's pull request), else the frontier runner; empty when there is nothing to do."""
    if not dispatch.work:
        return ""
    if dispatch.tier is Tier.LOCAL and inputs.local_runs_on is not None and not dispatch.fork:
        return inputs.local_runs_on
    return inputs.frontier_runs_on
