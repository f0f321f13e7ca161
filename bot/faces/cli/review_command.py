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
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.adapters.github import GitHub, GitHubError
from bot.adapters.models.backends import backends_for, close_backends
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.cost import Spend
from bot.core.markers import marker_key
from bot.core.packing import Coverage
from bot.core.pricing import PriceError, UnknownModelError
from bot.core.printable import json_line, printable, warn
from bot.core.render import Estimates, result_json, result_text
from bot.core.repo_settings import RepoSettings
from bot.core.result import ReviewResult
from bot.core.routing import Decision, Models, Tier
from bot.core.types import Backend
from bot.faces.cli.diff_input import STDIN, read_diff
from bot.faces.cli.exits import EXIT_FAILED, EXIT_INPUT_ERROR, EXIT_OK, Failure
from bot.faces.cli.pr_url import PullUrlError, pull_ref
from bot.faces.cli.progress import Progress, with_progress
from bot.pipeline.allowance import Decided
from bot.pipeline.change import Unreadable
from bot.pipeline.diff_review import decide_diff, diff_services, review_ready
from bot.pipeline.posting import review_prepared
from bot.pipeline.prepare import prepare
from bot.pipeline.request import Outcome, Request, Status
from bot.pipeline.services import GitHubClient, Services

if TYPE_CHECKING:
    from bot.adapters.ledger import Ledger

TRIGGER = "tierbot review"
# GitHub answers that say the URL names nothing there: bad input, not a failure to reach GitHub.
_NOT_THERE = (404, 410, 422)


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
        raise Failure("give a pull request URL or --diff PATH (one of them)", EXIT_INPUT_ERROR)
    try:
        prices = PriceTable.for_settings(settings.prices_file)
        prices.require(settings.frontier_model)
    except (UnknownModelError, PriceError) as exc:
        raise Failure(f"prices: {exc}", EXIT_INPUT_ERROR) from None
    return asyncio.run(_run(args, settings, prices))


async def _run(args: argparse.Namespace, settings: Settings, prices: PriceTable) -> int:
    try:
        settings_text = args.config.read_text(encoding="utf-8") if args.config else None
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure(f"cannot read {args.config}: {exc}", EXIT_INPUT_ERROR) from None
    override = None if args.tier == "auto" else Tier(args.tier)
    backends, models = backends_for(settings)
    progress = Progress(sys.stderr)
    shown_backends = with_progress(backends, progress)
    try:
        if args.diff is not None:
            shown: _Shown | int = await _review_diff(
                args.diff,
                settings,
                prices,
                shown_backends,
                models,
                settings_text,
                override,
                progress,
                args.json,
            )
        else:
            shown = await _review_pull(
                args.pr_url,
                settings,
                prices,
                shown_backends,
                models,
                settings_text,
                override,
                progress,
                args.json,
            )
    except (OSError, PullUrlError) as exc:
        raise Failure(str(exc), EXIT_INPUT_ERROR) from None
    except GitHubError as exc:
        code = EXIT_INPUT_ERROR if exc.status in _NOT_THERE else EXIT_FAILED
        raise Failure(str(exc), code) from None
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
    progress: Progress,
    as_json: bool,
) -> _Shown | int:
    """The pull request through the App's pipeline, as a dry run, recorded in the ledger."""
    ref = pull_ref(url, settings.github_api_url)
    # The App's login and marker key when this is the App's machine: its summary and comments
    # on the pull request are then read as the App reads them; else none are known.
    slug = settings.github_app_slug
    github = GitHub(
        settings.github_token,
        settings.github_api_url,
        bot_login=f"{slug}[bot]" if slug else None,
        marker_key=marker_key(settings.webhook_secret),
    )

    async with github:

        async def github_for(_installation: int | None) -> GitHubClient:
            return github

        ledger = await asyncio.to_thread(_ledger, settings)
        services = Services(
            settings,
            prices,
            backends,
            models,
            github_for,
            ledger=ledger,
            settings_text=settings_text,
        )
        request = Request(ref, TRIGGER, full=True, forced=True, override=override, dry_run=True)
        try:
            prepared = await prepare(github, request, services)
            if isinstance(prepared, Outcome):
                return _not_prepared(str(ref), prepared, as_json)
            for problem in prepared.repo.problems:
                warn(f"repo settings: {problem}")
            title = f"{ref} ({prepared.pull.title})"
            excluded = prepared.change.excluded
            if prepared.decision.error is not None:
                return _Shown.of(title, prepared.decided, excluded)
            async with progress.running():
                outcome = await review_prepared(github, prepared, services)
        finally:
            if ledger is not None:
                ledger.close()
        result = outcome.result
        return _Shown.of(title, prepared.decided, excluded, result=result, spend=outcome.spend)


def _not_prepared(title: str, outcome: Outcome, as_json: bool) -> _Shown | int:
    """What to show of a pull request with nothing to review; every file excluded is said as
    for a diff (exit 0); else why it is not reviewed, as a failure."""
    decision, estimates = outcome.decision, outcome.estimates
    if outcome.status is Status.SKIPPED and outcome.excluded:
        return _all_excluded(title, outcome.excluded, as_json)
    if outcome.status is Status.NOTHING and decision is not None and estimates is not None:
        return _Shown(
            title, decision, estimates, outcome.coverage, outcome.excluded, nothing=outcome.reason
        )
    if outcome.status is Status.FAILED:
        raise Failure(f"{title}: {outcome.reason}", EXIT_INPUT_ERROR)
    raise Failure(f"{title}: not reviewed: {outcome.reason}", EXIT_FAILED)


async def _review_diff(
    path: str,
    settings: Settings,
    prices: PriceTable,
    backends: Mapping[Tier, Backend],
    models: Models,
    settings_text: str | None,
    override: Tier | None,
    progress: Progress,
    as_json: bool,
) -> _Shown | int:
    """A diff file through the pipeline's own steps; there is no pull request: no budget, no
    ledger, no pull request text."""
    repo = RepoSettings.from_yaml(settings_text) if settings_text is not None else RepoSettings()
    for problem in repo.problems:
        warn(f"repo settings: {problem}")
    title = "standard input" if path == STDIN else path
    services = diff_services(settings, prices, backends, models)
    read = await decide_diff(read_diff(path), repo, services, override=override)
    if isinstance(read, Unreadable):
        if read.changes is None:
            raise Failure(f"{title}: {read.error}", EXIT_INPUT_ERROR)
        return _all_excluded(title, read.excluded, as_json)
    decided, excluded = read.decided, read.change.excluded
    nothing = read.nothing_to_review()
    if nothing is not None or decided.decision.error is not None:
        return _Shown.of(title, decided, excluded, nothing=nothing)
    async with progress.running():
        result, spend = await review_ready(read, repo, services)
    return _Shown.of(title, decided, excluded, result=result, spend=spend)


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
        sys.stdout.write(json_line(payload))
    elif shown.nothing is not None:
        text = f"tierbot review of {shown.title}: nothing to review: {shown.nothing}"
        sys.stdout.write(printable(text) + "\n")
    else:
        text = result_text(
            shown.title,
            result,
            decision,
            coverage,
            shown.estimates,
            shown.spend,
            configure,
            excluded,
        )
        sys.stdout.write(printable(text, lines=True))
    if shown.nothing is not None:
        return EXIT_OK
    if result is not None and result.failed:
        warn(f"not reviewed: {result.failed}")
        return EXIT_FAILED
    if result is None and decision.error and override is not None:
        warn(decision.error)
        return EXIT_FAILED
    return EXIT_OK


def _all_excluded(title: str, excluded: tuple[str, ...], as_json: bool) -> int:
    skipped = f"{title}: every changed file is excluded by the repo settings"
    if as_json:
        sys.stdout.write(json_line({"reviewed": False, "skipped": skipped, "excluded": excluded}))
    else:
        sys.stdout.write(printable(f"tierbot: {skipped}") + "\n")
    return EXIT_OK


def _ledger(settings: Settings) -> Ledger:
    """The ledger at TIERBOT_DATABASE_URL (by default the App's SQLite file), migrated."""
    from bot.adapters.ledger import Ledger  # noqa: PLC0415 - the database stack loads only when used

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
