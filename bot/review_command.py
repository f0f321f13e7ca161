"""`tierbot review`: review a diff file or a pull request from the command line.

A pull request goes through the App's own pipeline (`bot.pipeline.prepare`, then the review):
the same skip rules, the settings file from its default branch (or `--config`), the same pull
request text in the prompt, the same decision; as a dry run, it posts nothing. It is recorded in
the ledger at TIERBOT_DATABASE_URL (by default the App's SQLite file) like the App's reviews. A
diff file has no pull request: it is read, routed and reviewed by the same steps, with no budget
and no ledger. The frontier model runs with ANTHROPIC_API_KEY, the local model with
TIERBOT_LOCAL_MODEL_DIR on a CUDA machine; with neither it prints the decision, the estimated cost
of each tier and what to configure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.backends import backends_for, close_backends
from bot.config import RepoSettings, Settings
from bot.cost import PriceError, PriceTable, Spend, UnknownModelError
from bot.github import GitHub, GitHubError, parse_pull_url
from bot.models.base import Backend
from bot.pipeline.allowance import Decided, decide_change
from bot.pipeline.change import Unreadable, read_change
from bot.pipeline.posting import review_prepared, spend_of
from bot.pipeline.prepare import prepare
from bot.pipeline.request import Outcome, Request, Status
from bot.pipeline.services import GitHubClient, Services
from bot.review.markers import marker_key
from bot.review.prompt import Coverage
from bot.review.render import Estimates, result_json, result_text
from bot.reviewer import ReviewResult, review_change
from bot.routing import Decision, Models, Tier

if TYPE_CHECKING:
    from bot.ledger import Ledger

EXIT_OK = 0
EXIT_NOT_REVIEWED = 1
EXIT_INPUT_ERROR = 2
TRIGGER = "tierbot review"


@dataclass(frozen=True, slots=True)
class _Shown:
    """What to print: the decision and estimates, and the review when one ran."""

    title: str
    decision: Decision
    estimates: Estimates
    coverage: tuple[Coverage, ...]
    excluded: tuple[str, ...]
    result: ReviewResult | None = None
    spend: Spend | None = None
    nothing: str | None = None  # why there is nothing to review

    @classmethod
    def of(cls, title: str, decided: Decided, excluded: tuple[str, ...], **more: Any) -> _Shown:
        """What a decided change shows, before or after its review."""
        coverage = decided.plans[decided.decision.tier].coverage
        return cls(title, decided.decision, decided.estimates, coverage, excluded, **more)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if (args.pr_url is None) == (args.diff is None):
        print("tierbot: give a pull request URL or --diff PATH (one of them)", file=sys.stderr)
        return EXIT_INPUT_ERROR
    try:
        prices = PriceTable.for_settings(settings.prices_file)
        prices.require(settings.frontier_model)
    except (UnknownModelError, PriceError) as exc:
        print(f"tierbot: prices: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    return asyncio.run(_run(args, settings, prices))


async def _run(args: argparse.Namespace, settings: Settings, prices: PriceTable) -> int:
    try:
        settings_text = args.config.read_text(encoding="utf-8") if args.config else None
    except OSError as exc:
        print(f"tierbot: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    override = None if args.tier == "auto" else Tier(args.tier)
    backends, models = backends_for(settings)
    try:
        if args.diff is not None:
            shown: _Shown | int = await _review_diff(
                args.diff, settings, prices, backends, models, settings_text, override
            )
        else:
            shown = await _review_pull(
                args.pr_url, settings, prices, backends, models, settings_text, override
            )
    except (GitHubError, OSError) as exc:
        print(f"tierbot: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    finally:
        await close_backends(backends)
    if isinstance(shown, int):
        return shown
    return _print(shown, _configure(models), args.json, override)


async def _review_pull(
    url: str,
    settings: Settings,
    prices: PriceTable,
    backends: Mapping[Tier, Backend],
    models: Models,
    settings_text: str | None,
    override: Tier | None,
) -> _Shown | int:
    """The pull request through the App's pipeline, as a dry run, recorded in the ledger."""
    ref = parse_pull_url(url)
    # The App's login and marker key when this is the App's machine: its summary and comments
    # on the pull request are then read as the App reads them; else none are known.
    slug = settings.github_app_slug
    github = GitHub(
        settings.github_token,
        settings.github_api_url,
        bot_login=f"{slug}[bot]" if slug else None,
        marker_key=marker_key(settings.webhook_secret),
    )

    async def github_for(_installation: int | None) -> GitHubClient:
        return github

    ledger = await asyncio.to_thread(_ledger, settings)
    services = Services(
        settings, prices, backends, models, github_for, ledger=ledger, settings_text=settings_text
    )
    request = Request(ref, TRIGGER, full=True, forced=True, override=override, dry_run=True)
    try:
        prepared = await prepare(github, request, services)
        if isinstance(prepared, Outcome):
            return _not_prepared(str(ref), prepared)
        for problem in prepared.repo.problems:
            print(f"tierbot: repo settings: {problem}", file=sys.stderr)
        title = f"{ref} ({prepared.pull.title})"
        excluded = prepared.change.excluded
        if prepared.decision.error is not None:
            return _Shown.of(title, prepared.decided, excluded)
        outcome = await review_prepared(github, prepared, services)
    finally:
        if ledger is not None:
            ledger.close()
    result = outcome.result
    return _Shown.of(title, prepared.decided, excluded, result=result, spend=outcome.spend)


def _not_prepared(title: str, outcome: Outcome) -> _Shown | int:
    """What to show of a pull request with nothing to review; else print why it is not
    reviewed, and the exit code."""
    decision, estimates = outcome.decision, outcome.estimates
    if outcome.status is Status.NOTHING and decision is not None and estimates is not None:
        return _Shown(
            title, decision, estimates, outcome.coverage, outcome.excluded, nothing=outcome.reason
        )
    if outcome.status is Status.FAILED:
        print(f"tierbot: {title}: {outcome.reason}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    print(f"tierbot: {title}: not reviewed: {outcome.reason}", file=sys.stderr)
    return EXIT_NOT_REVIEWED


async def _review_diff(
    path: str,
    settings: Settings,
    prices: PriceTable,
    backends: Mapping[Tier, Backend],
    models: Models,
    settings_text: str | None,
    override: Tier | None,
) -> _Shown | int:
    """A diff file through the pipeline's own steps; there is no pull request: no budget, no
    ledger, no pull request text."""
    repo = RepoSettings.from_yaml(settings_text) if settings_text is not None else RepoSettings()
    for problem in repo.problems:
        print(f"tierbot: repo settings: {problem}", file=sys.stderr)
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    title = "standard input" if path == "-" else path
    read = read_change(data, repo)
    if isinstance(read, Unreadable):
        if read.changes is None:
            print(f"tierbot: {title}: {read.error}", file=sys.stderr)
            return EXIT_INPUT_ERROR
        print(f"tierbot: {title}: every changed file is excluded by the repo settings")
        return EXIT_OK
    services = Services(settings, prices, backends, models, _no_github)
    decided = await decide_change(read, repo, "", services, override=override)
    nothing = decided.nothing_to_review()
    if nothing is not None or decided.decision.error is not None:
        return _Shown.of(title, decided, read.excluded, nothing=nothing)
    result = await review_change(read.kept, decided.decision, decided.backends, repo)
    spend = spend_of(result.attempts, services)
    return _Shown.of(title, decided, read.excluded, result=result, spend=spend)


async def _no_github(_installation: int | None) -> GitHubClient:
    raise GitHubError("a diff file has no pull request on GitHub")


def _print(shown: _Shown, configure: list[str], as_json: bool, override: Tier | None) -> int:
    result, decision = shown.result, shown.decision
    coverage = result.coverage if result is not None else shown.coverage
    excluded = list(shown.excluded)
    if as_json:
        payload: dict[str, Any] = result_json(
            result, decision, coverage, shown.estimates, shown.spend, configure, excluded
        )
        if shown.nothing is not None:
            payload["nothing_to_review"] = shown.nothing
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    elif shown.nothing is not None:
        sys.stdout.write(f"tierbot review of {shown.title}: nothing to review: {shown.nothing}\n")
    else:
        sys.stdout.write(
            result_text(
                shown.title,
                result,
                decision,
                coverage,
                shown.estimates,
                shown.spend,
                configure,
                excluded,
            )
        )
    if shown.nothing is not None:
        return EXIT_OK
    if result is not None and result.failed:
        print(f"tierbot: not reviewed: {result.failed}", file=sys.stderr)
        return EXIT_NOT_REVIEWED
    if result is None and decision.error and override is not None:
        print(f"tierbot: {decision.error}", file=sys.stderr)
        return EXIT_NOT_REVIEWED
    return EXIT_OK


def _ledger(settings: Settings) -> Ledger:
    """The ledger at TIERBOT_DATABASE_URL (by default the App's SQLite file), migrated."""
    from bot.ledger import Ledger  # noqa: PLC0415 - the database stack loads only when used

    ledger = Ledger(settings.database_url)
    try:
        ledger.migrate()
    except Exception:
        ledger.close()
        raise
    return ledger


def _configure(models: Models) -> list[str]:
    out = []
    if models.frontier_unavailable:
        out.append("ANTHROPIC_API_KEY for the frontier model (ANTHROPIC_BASE_URL for a proxy)")
    if models.local_unavailable:
        out.append(
            "TIERBOT_LOCAL_MODEL_DIR (an EXL2 model folder) on a machine with a CUDA GPU and "
            f"`uv sync --extra gpu`, for the local model ({models.local_unavailable})"
        )
    return out
