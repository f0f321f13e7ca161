"""The Action's gate: the hourly caps (bot.core.caps) counted through the GitHub API, and where a
fork's pull request may run.

The App counts work in its queue; a workflow has no such store, so the Action counts the runs of
its own workflow instead: every pull request event or comment that could ask for work starts one
run, whatever becomes of it. A run of this workflow created in the last hour, before this run,
and not skipped outright, counts for its `actor` (the account that opened or pushed to the pull
request, or wrote the comment) and for the repository. Unlike the App, the per-repository count
includes runs by people with write access (the runs API does not say who has it), and a refused
run counts too, so a flood keeps its author refused until it stops for an hour. The workflow's
token needs `actions: read` to list them
(https://docs.github.com/en/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow);
without it, or outside a workflow, work by accounts without write access is refused: the gate
fails closed.

A refusal is told once per account, work and hour: the bot's comments on the repository from the
last hour are searched for the refusal's text before a reply or summary is posted.

Runners: GitHub advises against self-hosted runners for public repositories, because a fork's
pull request could run code on them
(https://docs.github.com/en/actions/reference/security/secure-use#hardening-for-self-hosted-runners).
tierbot runs none of a pull request's code, but still never lets a fork's pull request reach
one: routing treats the local model (on the self-hosted GPU runner) as unavailable for it, and
`tierbot action` on a self-hosted runner (`RUNNER_ENVIRONMENT`) refuses a fork's pull request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.core.caps import Caps, Refusal
from bot.core.job import CAPPED_WORK, Job

_WORKFLOWS = "/.github/workflows/"


@dataclass(frozen=True, slots=True)
class Workflow:
    """The run as its runner describes it (https://docs.github.com/en/actions/reference/workflows-and-actions/variables#default-environment-variables):
    the workflow's file name (from `GITHUB_WORKFLOW_REF`), this run's id (`GITHUB_RUN_ID`), and
    whether the runner is self-hosted (`RUNNER_ENVIRONMENT`)."""

    file: str | None = None
    run_id: int | None = None
    self_hosted: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Workflow:
        ref = env.get("GITHUB_WORKFLOW_REF", "").strip()
        path = ref.split("@", 1)[0]
        name = path.split(_WORKFLOWS, 1)[1] if _WORKFLOWS in path else ""
        run_id = env.get("GITHUB_RUN_ID", "").strip()
        return cls(
            file=name if name and "/" not in name else None,
            run_id=int(run_id) if run_id.isdigit() else None,
            self_hosted=env.get("RUNNER_ENVIRONMENT", "").strip() == "self-hosted",
        )


class RunsSource(Protocol):
    """What the gate needs of GitHub (bot.adapters.github.GitHub provides it)."""

    async def workflow_runs(
        self, owner: str, repo: str, workflow: str, *, since: datetime, enough: int
    ) -> list[dict[str, Any]]: ...

    async def bot_comments_since(
        self, owner: str, repo: str, since: datetime, *, pages: int = 5
    ) -> list[str]: ...


class GateError(Exception):
    """The runs could not be counted; the message says why."""


async def capped(
    github: RunsSource, job: Job, workflow: Workflow, caps: Caps, now: datetime
) -> Refusal | None:
    """The cap that refuses `job` in this run, or None. Only work by an account without write
    access by its association (`job.author`) is counted; GateError when it cannot be counted."""
    work = CAPPED_WORK.get(job.kind)
    if work is None or job.author is None:
        return None
    if workflow.file is None or workflow.run_id is None:
        raise GateError(
            "this run's workflow is unknown (GITHUB_WORKFLOW_REF and GITHUB_RUN_ID are not set), "
            "so its recent runs cannot be counted"
        )
    since = now - timedelta(seconds=caps.window_seconds)
    per_repo = caps.limits(work)[1]
    # Newest first: a page more than the cap covers the runs started after this one.
    runs = await github.workflow_runs(
        job.owner, job.repo, workflow.file, since=since, enough=per_repo + 100
    )
    by_author = by_repo = 0
    for run in runs:
        if not _counts(run, workflow.run_id):
            continue
        by_repo += 1
        actor = (run.get("actor") or {}).get("login")
        if isinstance(actor, str) and actor.casefold() == job.author.casefold():
            by_author += 1
    return caps.check(work, job.author, f"{job.owner}/{job.repo}", by_author, by_repo)


async def notice_due(
    github: RunsSource, job: Job, refusal: Refusal, caps: Caps, now: datetime
) -> bool:
    """Whether the pull request should be told of `refusal`: no comment of the bot's on the
    repository from the last window says it already."""
    since = now - timedelta(seconds=caps.window_seconds)
    bodies = await github.bot_comments_since(job.owner, job.repo, since)
    text = refusal.text()
    return not any(text in body for body in bodies)


def _counts(run: Mapping[str, Any], run_id: int) -> bool:
    """Whether a listed run (one created in the window) counts: an earlier run than this one,
    and not skipped outright."""
    ident = run.get("id")
    return isinstance(ident, int) and ident < run_id and run.get("conclusion") != "skipped"
