"""`tierbot action`: tierbot as a step of a GitHub Actions workflow; `tierbot doctor`: GPU check.

The Action is the App's pipeline without the queue: the event a workflow runs on becomes the same
job the webhook would queue (`bot.events.route`), and the job runs at once through
`bot.pipeline` with a `GitHub` client on the workflow's token, whose comments are by
`github-actions[bot]`. What a runner provides is read from the environment it sets:

- `GITHUB_EVENT_NAME` and `GITHUB_EVENT_PATH` (the webhook payload, as a file): `pull_request`,
  `pull_request_target` (handled as `pull_request`; tierbot never checks out or runs the pull
  request's code, it reads the diff through the API) and `issue_comment` (slash commands, with
  the App's permission rule: the comment's author association, else the permission API);
- `GITHUB_TOKEN` (or the `github-token` input), `GITHUB_API_URL` (GitHub Enterprise),
  `GITHUB_REPOSITORY` (checked against the payload's repository);
- the action's inputs, as `INPUT_<NAME>` variables that action.yml passes explicitly (a composite
  action does not map its inputs to the environment): `INPUT_MODE`, `INPUT_TIER`,
  `INPUT_MODEL_DIR`, `INPUT_CONFIG`, `INPUT_FAIL_ON`, `INPUT_LOCAL_RUNS_ON`,
  `INPUT_FRONTIER_RUNS_ON`, `INPUT_BOT_LOGIN`, `INPUT_GITHUB_TOKEN`, `INPUT_ANTHROPIC_API_KEY`.

Modes: `route` decides the tier and writes the outputs, and posts nothing (its client refuses
every write); `review` reviews with the models this runner has and posts like the App; `auto`
routes as `route` does and then reviews on this runner, in the same job. The route job assumes
both tiers, each on its own runner (`local-runs-on`, `frontier-runs-on`); a review job uses what
its runner has (`model-dir` on the GPU runner, the Anthropic key). A fork's pull request on
`pull_request` is left alone (GitHub gives it no secrets and a read-only token): a
`pull_request_target` workflow reviews it. `config` replaces the repo's `.github/tierbot.yml`
(read from the default branch, as the App does) with a file on the runner.

Who may spend (bot.trust, bot.gate), in every mode, whatever the workflow's `if:` says: work for
an account without write access follows the repo's `review.untrusted_authors` (the local model
only, by default) and is capped per account and per repository per hour, counted from this
workflow's recent runs (`GITHUB_WORKFLOW_REF`, `GITHUB_RUN_ID`; the token needs `actions: read`).
A refusal is a `::notice::`, the step summary, and once per account, work and hour a reply or
summary on the pull request (route mode sends it to a runner without a model to post it). A
fork's pull request is never routed to the self-hosted GPU runner, and a step on a self-hosted
runner (`RUNNER_ENVIRONMENT`) refuses one. A monthly frontier budget (`TIERBOT_FRONTIER_BUDGET_USD`
for the repository, or `budget.frontier_usd_month`) is a hard cap here too when the workflow
gives the ledger's database (`TIERBOT_DATABASE_URL`, a PostgreSQL server): every frontier request
is held against it there; with a budget and no database, the frontier model is not used.

Outputs go to `GITHUB_OUTPUT` in GitHub's file format (a multiline value between heredoc
delimiters): `tier` (`local`, `frontier`, or `none` when no model is needed), `score`, `reasons`
(one per line), `runs-on` (the JSON runner labels for the next job; empty when there is nothing
to do), `cost-usd` and `comments` (inline comments posted). A readable report goes to
`GITHUB_STEP_SUMMARY`. Failures are `::error::` annotations; the exit code is non-zero only for a
real failure: bad inputs or event file (2), GitHub or the model failing, a review that could not
be done, or a posted comment at or above `fail-on` (1). A skipped pull request, a refused command
or an ignored event exits 0 with a notice.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot import events
from bot.adapters.github import GitHub, GitHubError, PostedReview, PullRef, PullRequest
from bot.adapters.prices import PriceTable
from bot.backends import backends_for, close_backends
from bot.core.complexity import score
from bot.core.cost import DEFAULT_GPU_HOUR_USD, CostEstimate, format_usd
from bot.core.pricing import PriceError, UnknownModelError
from bot.core.repo_settings import REPO_SETTINGS_PATH, RepoSettings
from bot.core.types import CompletionRequest, ModelError
from bot.diff import ChangeSet, DiffError, parse
from bot.gate import GateError, Workflow, capped, notice_due
from bot.metrics import BASELINE_DOLLARS, DOLLARS, REVIEWS, Metrics
from bot.pipeline import (
    UNCOUNTED_BUDGET,
    UNTRUSTED_FRONTIER,
    GitHubClient,
    JobSpec,
    Retry,
    Services,
    post_notice,
    read_summary,
    review_pull,
    untrusted_policy,
)
from bot.pipeline import run as run_job
from bot.queue import NewJob
from bot.review.anchor import Comment
from bot.review.markdown import plain_text
from bot.review.markers import SUMMARY_MARKER, Markers, marker_key
from bot.review.prompt import plan_review
from bot.review.schema import Severity
from bot.review.secrets import scrub
from bot.review_command import FRONTIER_CONTEXT_TOKENS
from bot.reviewer import budget_for
from bot.routing import Decision, Models, Task, Tier, decide, without_excluded
from bot.settings import DEFAULT_DATABASE_URL, Settings
from bot.terminal import printable
from bot.trust import Untrusted, may_write

if TYPE_CHECKING:  # the ledger (SQLAlchemy) loads only where a database is set
    from bot.adapters.ledger import Ledger

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT_ERROR = 2
ACTIONS_BOT = "github-actions[bot]"  # who comments with a workflow's GITHUB_TOKEN
DEFAULT_LOCAL_RUNS_ON = '["self-hosted","gpu"]'
DEFAULT_FRONTIER_RUNS_ON = "ubuntu-latest"
# The events a workflow may run the action on, and the webhook event each one is handled as.
EVENTS = {
    "pull_request": "pull_request",
    "pull_request_target": "pull_request",
    "issue_comment": "issue_comment",
}
FAIL_ON = ("critical", "major", "minor", "nit", "none")
OUTPUTS = ("tier", "score", "reasons", "runs-on", "cost-usd", "comments")
FORK_NOT_SELF_HOSTED = "a pull request from a fork never runs on a self-hosted runner"


class Mode(StrEnum):
    ROUTE = "route"
    REVIEW = "review"
    AUTO = "auto"


class ActionError(Exception):
    """A failure to report as an annotation, with the exit code it deserves."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# --- the runner's environment -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inputs:
    """The action's inputs, checked."""

    mode: Mode = Mode.AUTO
    tier: Tier | None = None
    model_dir: str | None = None
    config: Path | None = None
    fail_on: Severity | None = None
    local_runs_on: str | None = DEFAULT_LOCAL_RUNS_ON  # JSON; None: there is no GPU runner
    frontier_runs_on: str = json.dumps(DEFAULT_FRONTIER_RUNS_ON)
    bot_login: str = ACTIONS_BOT
    github_token: str | None = None
    anthropic_api_key: str | None = None


@dataclass(frozen=True, slots=True)
class Runner:
    """What the runner says about the workflow run."""

    event: str
    payload: Mapping[str, Any]
    repository: str | None
    api_url: str | None
    output_path: str | None
    summary_path: str | None
    workflow: Workflow = field(default_factory=Workflow)


def input_value(env: Mapping[str, str], name: str) -> str:
    """An input as a composite action passes it (`INPUT_FAIL_ON`) or as GitHub maps it for other
    actions (`INPUT_FAIL-ON`); empty when unset."""
    upper = name.upper()
    for key in (f"INPUT_{upper.replace('-', '_')}", f"INPUT_{upper}"):
        value = env.get(key, "").strip()
        if value:
            return value
    return ""


def read_inputs(env: Mapping[str, str]) -> Inputs:
    """The inputs from the environment; ActionError (exit 2) naming the input that is wrong."""
    mode = input_value(env, "mode").lower() or Mode.AUTO.value
    if mode not in {m.value for m in Mode}:
        raise ActionError(
            f"the mode input must be route, review or auto, not {mode!r}", EXIT_INPUT_ERROR
        )
    tier_text = input_value(env, "tier").lower() or "auto"
    if tier_text not in ("auto", "local", "frontier"):
        raise ActionError(
            f"the tier input must be auto, local or frontier, not {tier_text!r}", EXIT_INPUT_ERROR
        )
    fail_on = input_value(env, "fail-on").lower() or "none"
    if fail_on not in FAIL_ON:
        raise ActionError(
            f"the fail-on input must be one of {', '.join(FAIL_ON)}, not {fail_on!r}",
            EXIT_INPUT_ERROR,
        )
    local_text = env.get("INPUT_LOCAL_RUNS_ON", env.get("INPUT_LOCAL-RUNS-ON"))
    config = input_value(env, "config")
    return Inputs(
        mode=Mode(mode),
        tier=None if tier_text == "auto" else Tier(tier_text),
        model_dir=input_value(env, "model-dir") or None,
        config=Path(config) if config else None,
        fail_on=None if fail_on == "none" else Severity(fail_on),
        # Unset: the default labels; set to nothing: this repo has no GPU runner.
        local_runs_on=(
            runs_on_json(local_text, "local-runs-on")
            if local_text is None or local_text.strip()
            else None
        ),
        frontier_runs_on=runs_on_json(
            input_value(env, "frontier-runs-on") or DEFAULT_FRONTIER_RUNS_ON, "frontier-runs-on"
        ),
        bot_login=input_value(env, "bot-login") or ACTIONS_BOT,
        github_token=input_value(env, "github-token")
        or env.get("GITHUB_TOKEN", "").strip()
        or None,
        anthropic_api_key=input_value(env, "anthropic-api-key") or None,
    )


def runs_on_json(text: str | None, name: str) -> str:
    """Runner labels as the JSON a workflow's `fromJSON()` takes: a label (`ubuntu-latest`),
    labels separated by commas, or JSON (a string or a list of strings)."""
    text = (text or DEFAULT_LOCAL_RUNS_ON).strip()
    value: Any
    try:
        value = json.loads(text)
    except ValueError:
        labels = [label.strip() for label in text.split(",") if label.strip()]
        value = labels[0] if len(labels) == 1 else labels
    if isinstance(value, str) and value.strip():
        return json.dumps(value.strip())
    if (
        isinstance(value, list)
        and value
        and all(isinstance(label, str) and label.strip() for label in value)
    ):
        return json.dumps([label.strip() for label in value], separators=(",", ":"))
    raise ActionError(
        f"the {name} input must be a runner label, labels separated by commas, or a JSON list "
        f"of labels, not {text!r}",
        EXIT_INPUT_ERROR,
    )


def read_runner(env: Mapping[str, str]) -> Runner:
    """The event and its payload; ActionError (exit 2) when this is not a workflow run tierbot can
    act on."""
    event = env.get("GITHUB_EVENT_NAME", "").strip()
    if not event:
        raise ActionError(
            "GITHUB_EVENT_NAME is not set: `tierbot action` runs as a step of a GitHub Actions "
            "workflow",
            EXIT_INPUT_ERROR,
        )
    if event not in EVENTS:
        raise ActionError(
            f"tierbot cannot act on the {event} event: run it on pull_request, "
            "pull_request_target or issue_comment",
            EXIT_INPUT_ERROR,
        )
    path = env.get("GITHUB_EVENT_PATH", "").strip()
    if not path:
        raise ActionError(
            "GITHUB_EVENT_PATH is not set: there is no event to act on", EXIT_INPUT_ERROR
        )
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ActionError(
            f"the event file {path} cannot be read: {exc}", EXIT_INPUT_ERROR
        ) from None
    except ValueError as exc:  # UnicodeDecodeError is one
        raise ActionError(f"the event file {path} is not JSON: {exc}", EXIT_INPUT_ERROR) from None
    if not isinstance(payload, dict):
        raise ActionError(
            f"the event file {path} does not hold an event (a JSON object)", EXIT_INPUT_ERROR
        )
    repository = env.get("GITHUB_REPOSITORY", "").strip() or None
    about = payload.get("repository")
    named = about.get("full_name") if isinstance(about, dict) else None
    if repository and isinstance(named, str) and named.casefold() != repository.casefold():
        raise ActionError(
            f"the event file is about {named}, but this workflow runs in {repository}",
            EXIT_INPUT_ERROR,
        )
    return Runner(
        event=event,
        payload=payload,
        repository=repository,
        api_url=env.get("GITHUB_API_URL", "").strip() or None,
        output_path=env.get("GITHUB_OUTPUT", "").strip() or None,
        summary_path=env.get("GITHUB_STEP_SUMMARY", "").strip() or None,
        workflow=Workflow.from_env(env),
    )


# --- workflow commands and files ----------------------------------------------------------------


def annotate(out: TextIO, level: str, message: str) -> None:
    """A workflow command (`::error::`, `::warning::`, `::notice::`), its data escaped.
    https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands"""
    text = printable(scrub(message), lines=True)  # control characters escaped, lines kept
    data = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    out.write(f"::{level}::{data}\n")
    out.flush()


def format_outputs(outputs: Mapping[str, str]) -> str:
    """Outputs in GitHub's file format: `name=value`, or a multiline value between heredoc
    delimiters that the value does not contain."""
    parts = []
    for name, value in outputs.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            while delimiter in value:  # pragma: no cover - a random UUID
                delimiter = f"ghadelimiter_{uuid.uuid4()}"
            parts.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            parts.append(f"{name}={value}\n")
    return "".join(parts)


def _append(path: str | None, text: str) -> None:
    if path is None:
        return
    try:
        with Path(path).open("a", encoding="utf-8") as file:
            file.write(scrub(text))  # the step summary is public to anyone who can see the run
    except OSError as exc:
        raise ActionError(f"cannot write {path}: {exc}") from None


# --- what to do about the event -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What the event asks of a runner. `tier` is the model's (None: no model is needed);
    `work` is False when there is nothing to do at all; `estimates` are what a review would
    cost on each tier; `fork` is True for a fork's pull request, which never gets the local
    tier's (self-hosted) runner."""

    job: NewJob | None
    reasons: tuple[str, ...]
    work: bool
    tier: Tier | None = None
    decision: Decision | None = None
    estimates: Mapping[Tier, Decimal] | None = None
    fork: bool = False


@dataclass
class Report:
    """What happened, for the outputs, the step summary and the exit code."""

    mode: Mode
    plan: Plan
    runs_on: str = ""
    routed_tier: Tier | None = None
    outcome: str = ""
    tier: Tier | None = None
    model: str = ""
    spent_usd: Decimal = Decimal(0)
    baseline_usd: Decimal | None = None
    posted: list[Comment] = field(default_factory=list)
    refused: int = 0
    pr_summary: str | None = None
    failure: str | None = None
    code: int = EXIT_OK

    def outputs(self) -> dict[str, str]:
        tier = self.tier if self.tier is not None else self.plan.tier
        decision = self.plan.decision
        return {
            "tier": str(tier) if tier is not None else "none",
            "score": str(decision.score) if decision is not None else "",
            "reasons": "\n".join(self.plan.reasons),
            "runs-on": self.runs_on,
            "cost-usd": f"{self.spent_usd.quantize(Decimal('0.0001'))}",
            "comments": str(len(self.posted)),
        }


class _Client:
    """The GitHub client the pipeline gets here: `GitHub` itself, recording what was posted,
    reading the settings file from the `config` input when given, and refusing every write in
    route mode, so that mode cannot post anything."""

    def __init__(self, github: GitHub, *, config_text: str | None, writable: bool) -> None:
        self._github = github
        self._config = config_text
        self.writable = writable
        self.posted: list[Comment] = []
        self.refused = 0
        self.summary: str | None = None

    @property
    def bot_login(self) -> str | None:
        return self._github.bot_login

    def markers(self, ref: PullRef) -> Markers:
        return self._github.markers(ref)

    def _write(self, what: str) -> None:
        if not self.writable:
            raise ActionError(f"route mode posts nothing, but {what} was about to be posted")

    async def pull(self, ref: PullRef) -> PullRequest:
        return await self._github.pull(ref)

    async def pull_diff(self, ref: PullRef) -> bytes:
        return await self._github.pull_diff(ref)

    async def compare(self, owner: str, repo: str, base: str, head: str) -> bytes:
        return await self._github.compare(owner, repo, base, head)

    async def file_text(self, owner: str, repo: str, path: str, ref: str) -> str | None:
        if self._config is not None and path == REPO_SETTINGS_PATH:
            return self._config
        return await self._github.file_text(owner, repo, path, ref)

    async def find_comment(self, ref: PullRef, marker: str) -> tuple[int, str] | None:
        return await self._github.find_comment(ref, marker)

    async def upsert_comment(
        self, ref: PullRef, marker: str, body: str, *, known: tuple[int, str] | None = None
    ) -> int:
        self._write("the summary comment")
        found = await self._github.upsert_comment(ref, marker, body, known=known)
        if marker == SUMMARY_MARKER:
            self.summary = body
        return found

    async def post_review(
        self, ref: PullRef, head_sha: str, body: str, comments: list[Comment]
    ) -> PostedReview:
        self._write("a review")
        posted = await self._github.post_review(ref, head_sha, body, comments)
        self.posted.extend(posted.posted)
        self.refused += len(posted.dropped)
        return posted

    async def review_comment_fingerprints(self, ref: PullRef) -> set[str]:
        return await self._github.review_comment_fingerprints(ref)

    async def add_reaction(self, owner: str, repo: str, comment_id: int, content: str) -> None:
        self._write("a reaction")
        await self._github.add_reaction(owner, repo, comment_id, content)

    async def reply(self, ref: PullRef, body: str) -> int:
        self._write("a reply")
        return await self._github.reply(ref, body)

    async def permission(self, owner: str, repo: str, login: str) -> str:
        return await self._github.permission(owner, repo, login)

    async def workflow_runs(
        self, owner: str, repo: str, workflow: str, *, since: datetime, enough: int
    ) -> list[dict[str, Any]]:
        return await self._github.workflow_runs(owner, repo, workflow, since=since, enough=enough)

    async def bot_comments_since(
        self, owner: str, repo: str, since: datetime, *, pages: int = 5
    ) -> list[str]:
        return await self._github.bot_comments_since(owner, repo, since, pages=pages)

    async def review_comment(self, owner: str, repo: str, comment_id: int) -> dict[str, Any]:
        return await self._github.review_comment(owner, repo, comment_id)

    async def reply_in_thread(self, ref: PullRef, review_comment_id: int, body: str) -> int:
        self._write("a reply in a thread")
        return await self._github.reply_in_thread(ref, review_comment_id, body)


async def make_plan(
    github: GitHubClient,
    job: NewJob,
    models: Models,
    settings: Settings,
    prices: PriceTable,
    override: Tier | None = None,
    *,
    fork: bool = False,
) -> Plan:
    """What `job` asks of a runner, decided on the change the pipeline would look at: the new
    commits since the last review (or all of it), with the repo's settings file, among the
    models whoever causes it may have (bot.trust: the asker of a command, else the author)
    and, for a fork's pull request, without the local model, whose runner is self-hosted. A
    paused pull request is reviewed on a command from someone with write access only."""
    ref = PullRef(job.owner, job.repo, job.number)
    task, full, forced = Task.REVIEW, False, False
    asker: tuple[str, str | None] | None = None
    if job.kind == "command":
        name = str(job.payload.get("command", "help"))
        args = [str(a) for a in job.payload.get("args", [])]
        user = str(job.payload.get("user", ""))
        association = job.payload.get("author_association")
        asker = (user, association if isinstance(association, str) else None)
        if job.payload.get("needs_permission_check") and not await may_write(
            github, ref.owner, ref.repo, *asker
        ):
            words = " ".join([f"/{name}", *args])
            why = f"@{user} has no write access, which `{words}` needs: the refusal needs no model"
            return Plan(job, (why,), work=True)
        if name == "review":
            override = (
                Tier.LOCAL if "--local" in args else Tier.FRONTIER if "--frontier" in args else None
            )
            full = "full" in args
            forced = full or override is not None
        elif name == "ask":
            task = Task.ASK
        else:
            return Plan(job, (f"`/{name}` needs no model",), work=True)
    pull = await github.pull(ref)
    if pull.state != "open":
        return Plan(job, (f"the pull request is {pull.state}",), work=False)
    _, state = await read_summary(github, ref)
    last = state.head
    if job.kind == "review" and state.paused:
        return Plan(job, ("automatic reviews are paused on this pull request (`/resume`)",), False)
    if (
        task is Task.REVIEW
        and state.paused
        and asker
        and not await may_write(github, ref.owner, ref.repo, *asker)
    ):
        why = "reviews are paused on this pull request, and only write access overrides that"
        return Plan(job, (why,), work=True)
    if task is Task.REVIEW and last == pull.head_sha and not forced:
        why = f"commit {pull.head_sha[:7]} was already reviewed"
        # A command still gets its answer (`/review full` reviews it again); an event does not.
        return Plan(job, (why,), work=job.kind == "command")
    text = await github.file_text(ref.owner, ref.repo, REPO_SETTINGS_PATH, pull.default_branch)
    repo = RepoSettings.from_yaml(text) if text is not None else RepoSettings()
    # The one who causes the work pays for it: the asker of a command, else the author.
    payer = asker or (pull.author, pull.author_association)
    policy = await untrusted_policy(github, ref, repo, settings.untrusted_authors, [payer])
    if policy is Untrusted.NONE:
        why = "no model for an account without write access (`review.untrusted_authors: none`)"
        return Plan(job, (why,), work=True, fork=fork)
    if policy is Untrusted.LOCAL:
        models = replace(models, frontier_unavailable=UNTRUSTED_FRONTIER)
    budgeted = settings.frontier_budget_usd is not None or repo.frontier_budget_usd is not None
    if budgeted and settings.database_url == DEFAULT_DATABASE_URL:
        models = replace(models, frontier_unavailable=UNCOUNTED_BUDGET)
    if fork:
        models = replace(models, local_unavailable=FORK_NOT_SELF_HOSTED)
    since = None if full or task is Task.ASK else last
    diff = None
    if since is not None:
        try:
            diff = await github.compare(ref.owner, ref.repo, since, pull.head_sha)
        except GitHubError as exc:
            if exc.status not in (404, 422):
                raise
    if diff is None:
        diff = await github.pull_diff(ref)
    try:
        changes = parse(diff)
    except DiffError as exc:
        return Plan(job, (f"the diff could not be read ({exc}): no model is needed",), True)
    kept, _ = without_excluded(changes, repo)
    if kept is None:
        why = "every changed file is excluded by the repo settings"
        return Plan(job, (why,), work=True, fork=fork)
    paths = tuple(f.path for f in kept.files)
    decision = decide(score(kept), models, task=task, repo=repo, paths=paths, override=override)
    if decision.error is not None:
        reasons = (*decision.reasons, f"it cannot be reviewed: {decision.error}")
        return Plan(job, reasons, work=True, decision=decision, fork=fork)
    context = f"{pull.title}\n\n{pull.body}".strip()
    estimates = _estimates(kept, repo, context, settings, prices) if task is Task.REVIEW else None
    return Plan(job, decision.reasons, True, decision.tier, decision, estimates, fork)


def _estimates(
    kept: ChangeSet, repo: RepoSettings, context: str, settings: Settings, prices: PriceTable
) -> dict[Tier, Decimal]:
    """What the review would cost on each tier, from its prompt's size (as `tierbot review`)."""
    paths = tuple(f.path for f in kept.files)
    price = prices.require(settings.frontier_model)
    gpu_hour = settings.gpu_hour_usd if settings.gpu_hour_usd is not None else DEFAULT_GPU_HOUR_USD
    out: dict[Tier, Decimal] = {}
    for tier in Tier:
        window = settings.local_context_tokens if tier is Tier.LOCAL else FRONTIER_CONTEXT_TOKENS
        tokens = plan_review(kept, budget_for(tier, window, repo, paths), repo, context)
        estimate = CostEstimate.for_review(tokens.prompt_tokens, price, gpu_hour_usd=gpu_hour)
        out[tier] = estimate.local_usd if tier is Tier.LOCAL else estimate.frontier_usd
    return out


def _runs_on(decided: Plan, inputs: Inputs) -> str:
    if not decided.work:
        return ""
    if decided.tier is Tier.LOCAL and inputs.local_runs_on is not None and not decided.fork:
        return inputs.local_runs_on
    return inputs.frontier_runs_on


# --- the command --------------------------------------------------------------------------------


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
        _append(env.get("GITHUB_STEP_SUMMARY", "").strip() or None, _failed_summary(str(exc)))
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
        _append(runner.summary_path, _failed_summary(str(exc)))
        return exc.code
    if report.outcome:
        out.write(f"tierbot: {printable(scrub(report.outcome))}\n")
    outputs = report.outputs()
    for name in OUTPUTS:
        out.write(f"tierbot: {name}: {printable(outputs[name].replace(chr(10), '; '))}\n")
    try:
        _append(runner.output_path, format_outputs(outputs))
        _append(runner.summary_path, step_summary(report, runner))
    except ActionError as exc:
        annotate(out, "error", f"tierbot: {exc}")
        return EXIT_FAILED
    if report.failure is not None:
        annotate(out, "error", f"tierbot: {report.failure}")
    return report.code


async def _act(inputs: Inputs, runner: Runner, settings: Settings, out: TextIO) -> Report:
    routed = events.route(
        EVENTS[runner.event],
        runner.payload,
        bot_login=inputs.bot_login,
        settings=events.EventSettings(),
    )
    if not routed.jobs:
        reason = routed.ack.split(": ", 1)[-1]
        annotate(out, "notice", f"tierbot: nothing to do: {reason}")
        return Report(inputs.mode, Plan(None, (reason,), work=False), outcome=routed.ack)
    job = routed.jobs[0]
    if inputs.mode is not Mode.ROUTE and not inputs.github_token:
        raise ActionError(
            "no GitHub token: pass the github-token input (the default is the workflow's "
            "GITHUB_TOKEN) with pull-requests: write and issues: write permissions",
            EXIT_INPUT_ERROR,
        )
    fork = _fork(runner) if runner.event == "pull_request" else None
    if fork is not None:
        why = (
            f"a pull request from the fork {fork}: on `pull_request` GitHub gives its workflows "
            "no secrets and a read-only token; review it from a `pull_request_target` workflow "
            "(action/examples/review-fork.yml)"
        )
        annotate(out, "notice", f"tierbot: not reviewed here: {why}")
        return Report(inputs.mode, Plan(job, (why,), work=False), outcome=f"skipped: {why}")
    config_text = _config_text(inputs.config)
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
    client = _Client(github, config_text=config_text, writable=inputs.mode is not Mode.ROUTE)
    override = inputs.tier if job.kind == "review" else None
    try:
        fork = await _fork_of(client, runner, job)
        if fork is not None and runner.workflow.self_hosted:
            raise ActionError(
                f"{FORK_NOT_SELF_HOSTED}, and this one is from {fork}: run this step on a "
                "GitHub-hosted runner (the route job's runs-on output never names the GPU runner "
                "for a fork's pull request)"
            )
        refused = await _gate(inputs, runner, client, job, settings, out)
        if refused is not None:
            return refused
        if inputs.mode is Mode.ROUTE:
            return await _route(inputs, client, job, settings, prices, override, fork is not None)
        return await _review(inputs, client, job, settings, prices, override, out, fork is not None)
    except GitHubError as exc:
        raise ActionError(_github_failure(exc, client.writable)) from None


async def _fork_of(client: _Client, runner: Runner, job: NewJob) -> str | None:
    """The fork the pull request comes from (owner/name), or None when it is from this
    repository: from the event, or for a comment from the pull request itself."""
    if runner.event != "issue_comment":
        return _fork(runner)
    pull = await client.pull(PullRef(job.owner, job.repo, job.number))
    base = f"{job.owner}/{job.repo}"
    if pull.head_repo.casefold() == base.casefold():
        return None
    return pull.head_repo or "a deleted repository"


async def _gate(
    inputs: Inputs,
    runner: Runner,
    client: _Client,
    job: NewJob,
    settings: Settings,
    out: TextIO,
) -> Report | None:
    """The hourly caps on work by accounts without write access (bot.gate): None when this
    job may go on, else the report of its refusal, told on the pull request once per account,
    work and hour (in route mode, by sending the next job to a runner without a model)."""
    now = datetime.now(UTC)
    caps = settings.caps
    try:
        refusal = await capped(client, job, runner.workflow, caps, now)
    except (GateError, GitHubError) as exc:
        why = f"work for an account without write access is not carried out: {exc}"
        if isinstance(exc, GitHubError) and exc.status in (401, 403, 404):
            why += " (the workflow's token needs `actions: read` to list the workflow's runs)"
        annotate(out, "notice", f"tierbot: {why}")
        return Report(inputs.mode, Plan(job, (why,), work=False), outcome=f"refused: {why}")
    if refusal is None:
        return None
    reason = refusal.text()
    annotate(out, "notice", f"tierbot: not carried out: {reason}")
    due = await notice_due(client, job, refusal, caps, now)
    plan = Plan(job, (reason,), work=due)
    report = Report(inputs.mode, plan, runs_on=_runs_on(plan, inputs), outcome=f"refused: {reason}")
    if due and inputs.mode is not Mode.ROUTE:
        ref = PullRef(job.owner, job.repo, job.number)
        payload = {"work": refusal.work, "reason": reason, "user": refusal.author}
        await post_notice(client, ref, payload)
        report.pr_summary = client.summary
    return report


async def _route(
    inputs: Inputs,
    client: _Client,
    job: NewJob,
    settings: Settings,
    prices: PriceTable,
    override: Tier | None,
    fork: bool,
) -> Report:
    decided = await make_plan(
        client, job, _route_models(inputs, settings), settings, prices, override, fork=fork
    )
    report = Report(Mode.ROUTE, decided, runs_on=_runs_on(decided, inputs))
    report.routed_tier = decided.tier
    report.outcome = "routed" if decided.work else "nothing to do"
    return report


def _route_models(inputs: Inputs, settings: Settings) -> Models:
    """The models the route job assumes: both tiers, each on its own runner (the local one only
    when there is a GPU runner), whatever this runner has."""
    return Models(
        local=settings.local_model,
        frontier=settings.frontier_model,
        local_window=settings.local_context_tokens,
        local_unavailable=(
            None if inputs.local_runs_on is not None else "no GPU runner (local-runs-on is empty)"
        ),
    )


async def _review(
    inputs: Inputs,
    client: _Client,
    job: NewJob,
    settings: Settings,
    prices: PriceTable,
    override: Tier | None,
    out: TextIO,
    fork: bool,
) -> Report:
    routed: Plan | None = None
    if inputs.mode is Mode.AUTO:
        routed = await make_plan(
            client, job, _route_models(inputs, settings), settings, prices, override, fork=fork
        )
        if not routed.work:
            annotate(out, "notice", "tierbot: nothing to do: " + "; ".join(routed.reasons))
            return Report(inputs.mode, routed, outcome="nothing to do")
    backends, models = backends_for(settings)
    if inputs.model_dir and models.local_unavailable:
        annotate(
            out, "warning", f"tierbot: the local model cannot run here: {models.local_unavailable}"
        )
    metrics = Metrics()

    async def github_for(_installation: int | None) -> GitHubClient:
        return client

    ledger = await asyncio.to_thread(_ledger, settings)
    services = Services(settings, prices, backends, models, github_for, metrics, ledger)
    try:
        here = await make_plan(client, job, models, settings, prices, override, fork=fork)
        report = Report(inputs.mode, here, runs_on=_runs_on(routed or here, inputs))
        report.routed_tier = (routed or here).tier
        report.outcome = await _carry_out(client, job, services, override)
    except Retry as exc:
        cause = exc.__cause__
        if isinstance(cause, GitHubError) and cause.status in (401, 403) and cause.retry_at is None:
            raise ActionError(_github_failure(cause, writing=True)) from None
        raise ActionError(f"a transient failure ({exc}); re-run the job to try again") from None
    finally:
        await close_backends(backends)
        if ledger is not None:
            ledger.close()
    if report.outcome.startswith(("skipped", "refused", "ignored")):
        annotate(out, "notice", f"tierbot: {report.outcome}")
    _account(report, client, metrics, settings, inputs.fail_on)
    return report


def _ledger(settings: Settings) -> Ledger | None:
    """The ledger a review job holds its frontier requests against and records them in: only
    at a TIERBOT_DATABASE_URL the workflow sets (a PostgreSQL server, from a secret), since a
    runner's own files are gone with the job. Without one, a monthly budget cannot be counted
    across runs, and a job under a budget gets no frontier model (bot.pipeline)."""
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


async def _carry_out(
    client: _Client, job: NewJob, services: Services, override: Tier | None
) -> str:
    if job.kind == "review":
        ref = PullRef(job.owner, job.repo, job.number)
        return await review_pull(client, ref, services, override=override, trigger=job.trigger)
    spec = JobSpec(job.kind, job.owner, job.repo, job.number, None, job.head_sha, job.payload)
    return await run_job(spec, services)


def _account(
    report: Report,
    client: _Client,
    metrics: Metrics,
    settings: Settings,
    fail_on: Severity | None,
) -> None:
    """Fill the report from what was posted and spent; set the failure and exit code."""
    report.posted = list(client.posted)
    report.refused = client.refused
    report.pr_summary = client.summary
    for reviewed in (Tier.FRONTIER, Tier.LOCAL):  # an escalated review ends on frontier
        if metrics.value(REVIEWS, {"tier": reviewed.value}):
            report.tier = reviewed
            break
    tier = report.tier or report.plan.tier
    if tier is not None:
        report.model = settings.frontier_model if tier is Tier.FRONTIER else settings.local_model
    spent = sum(
        (_dollars(metrics.value(DOLLARS, {"tier": t.value})) for t in Tier), start=Decimal(0)
    )
    report.spent_usd = spent
    baseline = metrics.value(BASELINE_DOLLARS)
    report.baseline_usd = _dollars(baseline) if baseline or spent else None
    outcome = report.outcome
    if outcome.startswith("failed"):
        report.failure = f"the review could not be done: {outcome.split(': ', 1)[-1]}"
        report.code = EXIT_FAILED
    elif fail_on is not None:
        hits = [c for c in report.posted if c.severity.rank <= fail_on.rank]
        if hits:
            listed = "; ".join(f"{c.path}:{c.line} ({c.severity})" for c in hits[:10])
            report.failure = (
                f"{len(hits)} comment{'s' if len(hits) != 1 else ''} at or above the fail-on "
                f"severity {fail_on} ({listed})"
            )
            report.code = EXIT_FAILED


def _dollars(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(Decimal("0.000001"))


def _fork(runner: Runner) -> str | None:
    """The fork a pull request comes from, or None when it is from this repository."""
    head = _field(runner.payload, "pull_request", "head", "repo", "full_name")
    base = _field(runner.payload, "repository", "full_name")
    if isinstance(head, str) and isinstance(base, str) and head.casefold() != base.casefold():
        return head
    return None


def _field(data: Any, *keys: str) -> Any:
    """`data[k1][k2]...`, or None where a level is missing or not an object."""
    for key in keys:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def _config_text(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ActionError(
            f"the config input {path} cannot be read: {exc}", EXIT_INPUT_ERROR
        ) from None


def _github_failure(exc: GitHubError, writing: bool) -> str:
    hint = ""
    if exc.status in (401, 403) and writing:
        hint = (
            "; the token needs `pull-requests: write` and `issues: write` (the workflow's "
            "`permissions`), and a pull request from a fork gets a read-only token on "
            "`pull_request`: use `pull_request_target` (action/examples/review-fork.yml)"
        )
    return f"GitHub: {exc}{hint}"


# --- the step summary ---------------------------------------------------------------------------


def step_summary(report: Report, runner: Runner) -> str:
    """The job summary's Markdown: what was decided and why, what was posted, what it cost."""
    target = _target(report, runner)
    lines = [f"### tierbot {report.mode}: {target}", ""]
    decided = report.plan
    tier = report.tier or decided.tier
    if not decided.work:
        reasons = "; ".join(_plain(r) for r in decided.reasons)
        return "\n".join([*lines, f"**Nothing to do:** {reasons}.", ""]) + "\n"
    if report.mode is not Mode.ROUTE:
        lines.append(f"**Outcome:** {_plain(report.outcome)}")
    elif decided.tier is None:
        lines.append(f"**No model needed**; the next job runs on `{report.runs_on}`.")
    else:
        lines.append(
            f"**Routed to the {decided.tier} model**: the next job runs on `{report.runs_on}`."
        )
    lines.append("")
    rows: list[tuple[str, str]] = []
    if tier is not None:
        model = f" (`{report.model}`)" if report.model else ""
        rows.append(("Tier", f"{tier}{model}"))
    if report.routed_tier is not None and report.routed_tier != tier:
        rows.append(("Routed to", str(report.routed_tier)))
    if decided.decision is not None:
        rows.append(("Complexity", f"{decided.decision.score}/100"))
    if report.mode is not Mode.ROUTE:
        rows.append(("Comments posted", _comments(report)))
        rows.append(("Cost", format_usd(report.spent_usd)))
        if report.baseline_usd is not None:
            saved = report.baseline_usd - report.spent_usd
            share = (
                f" ({(saved / report.baseline_usd * 100).quantize(Decimal(1))}%)"
                if report.baseline_usd > 0
                else ""
            )
            rows.append(("All-frontier cost", format_usd(report.baseline_usd)))
            rows.append(("Saved", f"{format_usd(saved)}{share}"))
    if decided.estimates is not None and report.mode is Mode.ROUTE:
        local, frontier = decided.estimates[Tier.LOCAL], decided.estimates[Tier.FRONTIER]
        rows.append(("Estimate, local", f"{format_usd(local)} of GPU time"))
        rows.append(("Estimate, frontier", f"{format_usd(frontier)} (the all-frontier cost)"))
    if rows:
        lines += ["| | |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in rows), ""]
    if decided.reasons:
        why = f"Why {tier}" if tier is not None else "Why"
        lines += [f"**{why}:**", *(f"- {_plain(r)}" for r in decided.reasons), ""]
    if report.mode is Mode.ROUTE:
        lines += ["Nothing was posted (route mode).", ""]
    if report.failure:
        lines += [f"**Failed:** {_plain(report.failure)}", ""]
    if report.pr_summary:
        lines += [
            "<details><summary>The summary comment on the pull request</summary>",
            "",
            report.pr_summary.strip(),
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines) + "\n"


def _failed_summary(message: str) -> str:
    return f"### tierbot could not run\n\n{_plain(message)}\n"


def _target(report: Report, runner: Runner) -> str:
    job = report.plan.job
    if job is not None:
        return f"{job.owner}/{job.repo}#{job.number}"
    return runner.repository or runner.event


def _comments(report: Report) -> str:
    if not report.posted:
        text = "none"
    else:
        counts = Counter(c.severity for c in report.posted)
        text = (
            f"{len(report.posted)} ("
            + ", ".join(f"{counts[s]} {s}" for s in Severity if counts[s])
            + ")"
        )
    if report.refused:
        text += f"; {report.refused} refused by GitHub"
    return text


def _plain(text: str) -> str:
    """Text from elsewhere (reasons with paths, errors, outcomes) shown as itself in the job
    summary, which GitHub renders as Markdown: no image, HTML or mention in it renders."""
    return plain_text(text)


def _cell(text: str) -> str:
    """A table cell of the bot's own values (tier, model, figures)."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")


# --- tierbot doctor -----------------------------------------------------------------------------

_DOCTOR_REQUEST = CompletionRequest(
    system="You are a health check. Answer with JSON only.",
    stable="",
    prompt='Answer with {"ok": true}.',
    schema={
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
        "additionalProperties": False,
    },
    max_output_tokens=16,
    label="doctor",
)


@dataclass
class _Check:
    name: str
    ok: bool | None  # None: not checked, because an earlier check failed
    detail: str


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """`tierbot doctor`: 0 when the local model ran one generation here, else 1."""
    model_dir = args.model_dir or settings.local_model_dir
    checks = asyncio.run(doctor(model_dir, settings.local_context_tokens))
    out = sys.stdout
    for check in checks:
        state = "ok" if check.ok else "not checked" if check.ok is None else "FAILED"
        out.write(f"{check.name + ':':<22} {state}: {printable(check.detail)}\n")
    failed = [c for c in checks if not c.ok]
    if failed:
        names = ", ".join(c.name for c in failed if c.ok is False)
        out.write(f"tierbot doctor: the local model cannot run here (failed: {names}).\n")
        return EXIT_FAILED
    out.write("tierbot doctor: the local model is ready.\n")
    return EXIT_OK


async def doctor(model_dir: str | None, context_tokens: int) -> list[_Check]:
    """The GPU, the exllamav2 extension, the model folder, and one short generation."""
    checks = [_gpu_check()]
    gpu_ok = checks[0].ok is True
    checks.append(_extension_check(gpu_ok))
    folder = _folder_check(model_dir)
    checks.append(folder)
    if not (gpu_ok and checks[1].ok and folder.ok):
        checks.append(_Check("generation", None, "needs the checks above to pass"))
        return checks
    assert model_dir is not None
    checks.append(await _generation_check(model_dir, context_tokens))
    return checks


def _gpu_check() -> _Check:
    from bot.adapters.models.exllama_gpu import GPU_EXTRA_MISSING  # noqa: PLC0415 - light, no GPU imports

    missing = [
        m for m in ("torch", "exllamav2", "tokenizers") if importlib.util.find_spec(m) is None
    ]
    if missing:
        return _Check("GPU", False, f"{GPU_EXTRA_MISSING}: cannot import {', '.join(missing)}")
    try:
        torch: Any = importlib.import_module("torch")
        if not torch.cuda.is_available():
            return _Check(
                "GPU",
                False,
                f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU "
                "(check the NVIDIA driver with nvidia-smi, and that torch was built for CUDA)",
            )
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        free, total = torch.cuda.mem_get_info(0)
    except (ImportError, OSError, RuntimeError) as exc:
        return _Check("GPU", False, f"torch cannot use CUDA here: {exc}")
    return _Check(
        "GPU",
        True,
        f"{', '.join(names)}; {free / 2**30:.1f} of {total / 2**30:.1f} GiB free; "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}",
    )


def _extension_check(gpu_ok: bool) -> _Check:
    if not gpu_ok:
        return _Check("exllamav2 extension", None, "needs a working GPU (above)")
    started = time.monotonic()
    try:
        # The first import compiles the CUDA extension (minutes); later ones load the cache.
        ext: Any = importlib.import_module("exllamav2.ext")
        installed = version("exllamav2")
    except Exception as exc:  # noqa: BLE001 - a failed build raises anything; report it
        return _Check(
            "exllamav2 extension",
            False,
            f"{type(exc).__name__}: {exc} (a prebuilt wheel must match torch's version and "
            "CUDA; building needs nvcc from a CUDA toolkit of torch's CUDA version)",
        )
    module = getattr(ext, "exllamav2_ext", None)
    where = getattr(module, "__file__", None)
    return _Check(
        "exllamav2 extension",
        True,
        f"exllamav2 {installed} loaded in {time.monotonic() - started:.1f} s"
        + (f" from {where}" if where else ""),
    )


def _folder_check(model_dir: str | None) -> _Check:
    from bot.adapters.models.exllama_gpu import (  # noqa: PLC0415 - the backend's own check
        model_dir_problem as _model_dir_problem,
    )

    if not model_dir:
        return _Check("model folder", False, "none given: --model-dir or TIERBOT_LOCAL_MODEL_DIR")
    problem = _model_dir_problem(Path(model_dir))
    if problem is not None:
        return _Check("model folder", False, problem)
    return _Check("model folder", True, str(Path(model_dir).resolve()))


async def _generation_check(model_dir: str, context_tokens: int) -> _Check:
    from bot.adapters.models.exllama import LocalBackend  # noqa: PLC0415 - the GPU stack on demand

    backend = LocalBackend(model_dir, context_tokens=context_tokens)
    started = time.monotonic()
    try:
        completion = await backend.complete(_DOCTOR_REQUEST)
    except ModelError as exc:
        return _Check("generation", False, f"the model did not load or generate: {exc}")
    finally:
        total = time.monotonic() - started
        await backend.aclose()
    loaded = max(total - completion.wall_seconds, 0.0)
    tokens = completion.usage.output_tokens
    rate = f", {tokens / completion.gpu_seconds:.0f} tokens/s" if completion.gpu_seconds else ""
    runtime = backend.runtime or {}
    return _Check(
        "generation",
        True,
        f"model {backend.model} loaded in {loaded:.1f} s; one short generation of {tokens} "
        f"tokens took {completion.wall_seconds:.2f} s{rate}; answer {completion.text.strip()!r}"
        + (f"; {', '.join(f'{k}={v}' for k, v in runtime.items())}" if runtime else ""),
    )
