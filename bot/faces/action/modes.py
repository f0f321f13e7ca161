"""`tierbot action`: the event's job through the pipeline, in the mode the workflow asks for.

`route` prepares (the pipeline's `prepare`: skip rules, settings, diff, who pays, budget,
decision, estimates) and writes the outputs; it runs no model and posts nothing. `review`
prepares and reviews with the models this runner has, and posts like the App. `auto` prepares
once with this runner's models, decides the routed tier on the same change among the route
step's models, and reviews what it prepared: GitHub is read once."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

from bot.adapters.github import GitHub, GitHubError, PullRef
from bot.adapters.models.backends import backends_for, close_backends
from bot.adapters.prices import PriceTable
from bot.adapters.settings import DEFAULT_DATABASE_URL, Settings
from bot.core.answer_schema import Severity
from bot.core.job import Job
from bot.core.markers import marker_key
from bot.core.pricing import PriceError, UnknownModelError
from bot.core.printable import printable
from bot.core.secrets.redaction import scrub
from bot.faces.action.dispatch import dispatch_for, route_models, runs_on
from bot.faces.action.gate import GateError, capped, notice_due
from bot.faces.action.inputs import (
    EVENTS,
    EXIT_FAILED,
    EXIT_INPUT_ERROR,
    OUTPUTS,
    ActionError,
    Inputs,
    Mode,
    Runner,
    config_text,
    event_fork,
    read_inputs,
    read_runner,
)
from bot.faces.action.output import annotate, append, failed_summary, format_outputs, step_summary
from bot.faces.action.step_report import Dispatch, StepReport
from bot.faces.app import events
from bot.pipeline.allowance import FORK_NOT_SELF_HOSTED
from bot.pipeline.commands import post_notice
from bot.pipeline.commands import run as run_job
from bot.pipeline.request import Outcome, Status
from bot.pipeline.services import GitHubClient, Retry, Services

if TYPE_CHECKING:  # the ledger (SQLAlchemy) loads only where a database is set
    from bot.adapters.ledger import Ledger

_NOTICED = (Status.SKIPPED, Status.REFUSED, Status.IGNORED, Status.NOTHING)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """`tierbot action`, from the runner's environment; the exit code."""
    return act(os.environ, settings, sys.stdout)


def act(env: Mapping[str, str], settings: Settings, out: TextIO) -> int:
    """The action for this environment, reporting to `out` (the step's log)."""
    try:
        inputs = read_inputs(env)
        runner = read_runner(env)
    except ActionError as exc:
        annotate(out, "error", f"tierbot: {exc}")
        append(env.get("GITHUB_STEP_SUMMARY", "").strip() or None, failed_summary(str(exc)))
        return exc.code
    settings = replace(
        settings,
        local_model_dir=inputs.model_dir or settings.local_model_dir,
        anthropic_api_key=inputs.anthropic_api_key or settings.anthropic_api_key,
        github_token=inputs.github_token,
        github_api_url=runner.api_url or settings.github_api_url,
    )
    try:
        report = asyncio.run(_act(inputs, runner, settings, out))
    except ActionError as exc:
        annotate(out, "error", f"tierbot: {exc}")
        append(runner.summary_path, failed_summary(str(exc)))
        return exc.code
    if report.text:
        out.write(f"tierbot: {printable(scrub(report.text))}\n")
    outputs = report.outputs()
    for name in OUTPUTS:
        out.write(f"tierbot: {name}: {printable(outputs[name].replace(chr(10), '; '))}\n")
    try:
        append(runner.output_path, format_outputs(outputs))
        append(runner.summary_path, step_summary(report, runner))
    except ActionError as exc:
        annotate(out, "error", f"tierbot: {exc}")
        return EXIT_FAILED
    if report.failure is not None:
        annotate(out, "error", f"tierbot: {report.failure}")
    return report.code


async def _act(inputs: Inputs, runner: Runner, settings: Settings, out: TextIO) -> StepReport:
    routed = events.route(
        EVENTS[runner.event],
        runner.payload,
        bot_login=inputs.bot_login,
        settings=events.EventSettings(),
    )
    if not routed.jobs:
        reason = routed.ack.split(": ", 1)[-1]
        annotate(out, "notice", f"tierbot: nothing to do: {reason}")
        return StepReport(inputs.mode, Dispatch(None, (reason,), work=False), note=routed.ack)
    # The workflow's token, not an App installation, does the work: budgets are the repo's.
    job = replace(routed.jobs[0], installation_id=None)
    if inputs.mode is not Mode.ROUTE and not inputs.github_token:
        raise ActionError(
            "no GitHub token: pass the github-token input (the default is the workflow's "
            "GITHUB_TOKEN) with pull-requests: write and issues: write permissions",
            EXIT_INPUT_ERROR,
        )
    fork = event_fork(runner) if runner.event == "pull_request" else None
    if fork is not None:
        why = (
            f"a pull request from the fork {fork}: on `pull_request` GitHub gives its workflows "
            "no secrets and a read-only token; review it from a `pull_request_target` workflow "
            "(action/examples/review-fork.yml)"
        )
        annotate(out, "notice", f"tierbot: not reviewed here: {why}")
        return StepReport(inputs.mode, Dispatch(job, (why,), work=False), note=f"skipped: {why}")
    settings_text = config_text(inputs.config)
    try:
        prices = PriceTable.for_settings(settings.prices_file)
        prices.require(settings.frontier_model)
    except (UnknownModelError, PriceError) as exc:
        raise ActionError(f"prices: {exc}", EXIT_INPUT_ERROR) from None
    # No secret reaches every job of the Action (the route job has none): its markers are signed
    # with the public key, and trusted because only this repo's workflows post as its login.
    github = GitHub(
        settings.github_token,
        settings.github_api_url,
        bot_login=inputs.bot_login,
        marker_key=marker_key(None),
    )

    async def github_for(_installation: int | None) -> GitHubClient:
        return github

    writing = inputs.mode is not Mode.ROUTE
    try:
        fork = await _fork_of(github, runner, job)
        if fork is not None and runner.workflow.self_hosted:
            raise ActionError(
                f"{FORK_NOT_SELF_HOSTED}, and this one is from {fork}: run this step on a "
                "GitHub-hosted runner (the route job's runs-on output never names the GPU runner "
                "for a fork's pull request)"
            )
        refused = await _gate(inputs, runner, github, job, settings, out)
        if refused is not None:
            return refused
        ledger = await asyncio.to_thread(_ledger, settings)
        try:
            if inputs.mode is Mode.ROUTE:
                models = route_models(inputs, settings)
                services = Services(
                    settings,
                    prices,
                    {},
                    models,
                    github_for,
                    ledger=ledger,
                    settings_text=settings_text,
                )
                return await _route_step(inputs, github, job, services, fork is not None)
            backends, models = backends_for(settings)
            services = Services(
                settings,
                prices,
                backends,
                models,
                github_for,
                ledger=ledger,
                settings_text=settings_text,
            )
            try:
                return await _review(inputs, github, job, services, out, fork is not None)
            finally:
                await close_backends(backends)
        finally:
            if ledger is not None:
                ledger.close()
    except GitHubError as exc:
        raise ActionError(_github_failure(exc, writing)) from None
    finally:
        await github.aclose()  # its pooled connections


async def _fork_of(github: GitHub, runner: Runner, job: Job) -> str | None:
    """The fork the pull request comes from (owner/name), or None when it is from this
    repository: from the event, or for a comment from the pull request itself."""
    if runner.event != "issue_comment":
        return event_fork(runner)
    pull = await github.pull(PullRef(job.owner, job.repo, job.number))
    base = f"{job.owner}/{job.repo}"
    if pull.head_repo.casefold() == base.casefold():
        return None
    return pull.head_repo or "a deleted repository"


async def _gate(
    inputs: Inputs, runner: Runner, github: GitHub, job: Job, settings: Settings, out: TextIO
) -> StepReport | None:
    """The hourly caps on work by accounts without write access (bot.faces.action.gate): None when
    this
    job may go on, else the report of its refusal, told on the pull request once per account,
    work and hour (in route mode, by sending the next job to a runner without a model)."""
    now = datetime.now(UTC)
    caps = settings.caps
    try:
        refusal = await capped(github, job, runner.workflow, caps, now)
    except (GateError, GitHubError) as exc:
        why = f"work for an account without write access is not carried out: {exc}"
        if isinstance(exc, GitHubError) and exc.status in (401, 403, 404):
            why += " (the workflow's token needs `actions: read` to list the workflow's runs)"
        annotate(out, "notice", f"tierbot: {why}")
        return StepReport(inputs.mode, Dispatch(job, (why,), work=False), note=f"refused: {why}")
    if refusal is None:
        return None
    reason = refusal.text()
    annotate(out, "notice", f"tierbot: not carried out: {reason}")
    due = await notice_due(github, job, refusal, caps, now)
    dispatch = Dispatch(job, (reason,), work=due)
    report = StepReport(
        inputs.mode, dispatch, runs_on=runs_on(dispatch, inputs), note=f"refused: {reason}"
    )
    if due and inputs.mode is not Mode.ROUTE:
        ref = PullRef(job.owner, job.repo, job.number)
        payload = {"work": refusal.work, "reason": reason, "user": refusal.author}
        noticed = await post_notice(github, ref, payload)
        report.outcome = Outcome(
            Status.REFUSED, reason, summary=noticed.summary, reply=noticed.reply
        )
    return report


async def _route_step(
    inputs: Inputs, github: GitHub, job: Job, services: Services, fork: bool
) -> StepReport:
    override = inputs.tier if job.kind == "review" else None
    dispatch = await dispatch_for(github, job, services, override=override, fork=fork)
    report = StepReport(
        Mode.ROUTE, dispatch, runs_on=runs_on(dispatch, inputs), routed_tier=dispatch.tier
    )
    report.note = "routed" if dispatch.work else "nothing to do"
    return report


async def _review(
    inputs: Inputs, github: GitHub, job: Job, services: Services, out: TextIO, fork: bool
) -> StepReport:
    if inputs.model_dir and services.models.local_unavailable:
        annotate(
            out,
            "warning",
            f"tierbot: the local model cannot run here: {services.models.local_unavailable}",
        )
    override = inputs.tier if job.kind == "review" else None
    # Auto mode routes as the route step would (both tiers, each on its own runner) on what
    # this runner prepares; review mode reports the tier this runner's models get.
    routed = route_models(inputs, services.settings) if inputs.mode is Mode.AUTO else None
    dispatch = await dispatch_for(
        github, job, services, override=override, fork=fork, routed=routed
    )
    report = StepReport(
        inputs.mode, dispatch, runs_on=runs_on(dispatch, inputs), routed_tier=dispatch.tier
    )
    if inputs.mode is Mode.AUTO and not dispatch.work:
        annotate(out, "notice", "tierbot: nothing to do: " + "; ".join(dispatch.reasons))
        report.note = "nothing to do"
        return report
    try:
        # From what dispatch_for prepared: GitHub is not read again for a review, /review or /ask.
        report.outcome = await run_job(job, services, prepared=dispatch.prepared)
    except Retry as exc:
        cause = exc.__cause__
        if isinstance(cause, GitHubError) and cause.status in (401, 403) and cause.retry_at is None:
            raise ActionError(_github_failure(cause, writing=True)) from None
        raise ActionError(f"a transient failure ({exc}); re-run the job to try again") from None
    if report.outcome.status in _NOTICED:
        annotate(out, "notice", f"tierbot: {report.outcome}")
    _account(report, inputs.fail_on)
    return report


def _account(report: StepReport, fail_on: Severity | None) -> None:
    """The failure and exit code: a review that could not be done, or a posted comment at or
    above `fail_on`."""
    outcome = report.outcome
    if outcome is None:
        return
    if outcome.status is Status.FAILED:
        report.failure = f"the review could not be done: {outcome.reason}"
        report.code = EXIT_FAILED
    elif fail_on is not None:
        hits = [c for c in outcome.comments if c.severity.rank <= fail_on.rank]
        if hits:
            listed = "; ".join(f"{c.path}:{c.line} ({c.severity})" for c in hits[:10])
            report.failure = (
                f"{len(hits)} comment{'s' if len(hits) != 1 else ''} at or above the fail-on "
                f"severity {fail_on} ({listed})"
            )
            report.code = EXIT_FAILED


def _ledger(settings: Settings) -> Ledger | None:
    """The ledger the job holds its frontier requests against and records them in: only at a
    TIERBOT_DATABASE_URL the workflow sets (a PostgreSQL server, from a secret), since a
    runner's own files are gone with the job. Without one, a monthly budget cannot be counted
    across runs, and work under a budget gets no frontier model (bot.pipeline.allowance)."""
    if settings.database_url == DEFAULT_DATABASE_URL:
        return None
    from bot.adapters.ledger import Ledger  # noqa: PLC0415 - the database stack loads only when used

    ledger = Ledger(settings.database_url)
    try:
        ledger.migrate()
    except Exception:
        ledger.close()
        raise
    return ledger


def _github_failure(exc: GitHubError, writing: bool) -> str:
    hint = ""
    if exc.status in (401, 403) and writing:
        hint = (
            "; the token needs `pull-requests: write` and `issues: write` (the workflow's "
            "`permissions`), and a pull request from a fork gets a read-only token on "
            "`pull_request`: use `pull_request_target` (action/examples/review-fork.yml)"
        )
    return f"GitHub: {exc}{hint}"
