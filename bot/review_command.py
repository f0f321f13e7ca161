"""`tierbot review`: review a diff file or a pull request from the command line.

Reads the change (a file, stdin, or a PR through the GitHub API with the repo's settings file
from its default branch), routes it, and reviews it on the chosen tier with whatever backends
are configured: the frontier model with ANTHROPIC_API_KEY, the local model with
TIERBOT_LOCAL_MODEL_DIR on a CUDA machine. With neither it prints the decision and the estimated
cost of each tier, and what to configure. Nothing is posted: a PR review is a dry run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.adapters.github import GitHub, GitHubError
from bot.adapters.models.anthropic import DEFAULT_CONTEXT_TOKENS
from bot.adapters.prices import PriceTable
from bot.backends import backends_for, close_backends
from bot.core.complexity import score
from bot.core.cost import DEFAULT_GPU_HOUR_USD, CostEstimate, review_spend
from bot.core.pricing import PriceError, UnknownModelError
from bot.core.repo_settings import RepoSettings
from bot.diff import DiffError, parse
from bot.diff_input import STDIN, read_diff
from bot.exits import EXIT_FAILED, Failure
from bot.pr_url import PullUrlError, pull_ref
from bot.progress import Progress, with_progress
from bot.review.prompt import Plan, plan_review
from bot.review.render import Estimates, result_json, result_text
from bot.reviewer import budget_for, review_change
from bot.routing import Models, Tier, decide, without_excluded
from bot.settings import Settings
from bot.terminal import json_line, printable, warn

FRONTIER_CONTEXT_TOKENS = DEFAULT_CONTEXT_TOKENS
EXIT_OK = 0
EXIT_NOT_REVIEWED = EXIT_FAILED
EXIT_INPUT_ERROR = 2
# GitHub answers that say the URL names nothing there: bad input, not a failure to reach GitHub.
_NOT_THERE = (404, 410, 422)


@dataclass(frozen=True, slots=True)
class _Input:
    title: str
    diff: bytes | str  # a PR's diff as GitHub sends it; a file's as bot.diff_input reads it
    repo: RepoSettings
    context: str


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
        given = await _read_input(args, settings)
    except (OSError, PullUrlError) as exc:
        raise Failure(str(exc), EXIT_INPUT_ERROR) from None
    except GitHubError as exc:
        code = EXIT_INPUT_ERROR if exc.status in _NOT_THERE else EXIT_FAILED
        raise Failure(str(exc), code) from None
    for problem in given.repo.problems:
        warn(f"repo settings: {problem}")
    try:
        changes = parse(given.diff)
    except DiffError as exc:
        raise Failure(f"{given.title}: {exc}", EXIT_INPUT_ERROR) from None
    kept, excluded = without_excluded(changes, given.repo)
    if kept is None:
        skipped = f"{given.title}: every changed file is excluded by the repo settings"
        if args.json:
            skip = {"reviewed": False, "skipped": skipped, "excluded": excluded}
            sys.stdout.write(json_line(skip))
        else:
            sys.stdout.write(printable(f"tierbot: {skipped}") + "\n")
        return EXIT_OK

    backends, models = backends_for(settings)
    progress = Progress(sys.stderr)
    backends = with_progress(backends, progress)
    complexity = score(kept)
    paths = tuple(f.path for f in kept.files)
    override = None if args.tier == "auto" else Tier(args.tier)
    decision = decide(complexity, models, repo=given.repo, paths=paths, override=override)
    gpu_hour = settings.gpu_hour_usd if settings.gpu_hour_usd is not None else DEFAULT_GPU_HOUR_USD
    plans = {
        tier: plan_review(
            kept,
            budget_for(tier, _window(tier, settings), given.repo, paths),
            given.repo,
            given.context,
        )
        for tier in Tier
    }
    estimates = _estimates(plans, settings, prices, gpu_hour)
    configure = _configure(models)

    result = spend = None
    if decision.error is None:
        try:
            async with progress.running():
                result = await review_change(
                    kept, decision, backends, given.repo, context=given.context
                )
        finally:
            await close_backends(backends)
        spend = review_spend(result.attempts, prices, settings.frontier_model, gpu_hour)
    coverage = plans[decision.tier].coverage
    if args.json:
        payload = result_json(result, decision, coverage, estimates, spend, configure, excluded)
        sys.stdout.write(json_line(payload))
    else:
        text = result_text(
            given.title, result, decision, coverage, estimates, spend, configure, excluded
        )
        sys.stdout.write(printable(text, lines=True))
    if result is not None and result.failed:
        warn(f"not reviewed: {result.failed}")
        return EXIT_NOT_REVIEWED
    if result is None and decision.error and override is not None:
        warn(decision.error)
        return EXIT_NOT_REVIEWED
    return EXIT_OK


async def _read_input(args: argparse.Namespace, settings: Settings) -> _Input:
    repo = RepoSettings()
    if args.config is not None:
        repo = RepoSettings.from_yaml(args.config.read_text(encoding="utf-8"))
    if args.diff is not None:
        title = "standard input" if args.diff == STDIN else args.diff
        return _Input(title, read_diff(args.diff), repo, "")
    ref = pull_ref(args.pr_url, settings.github_api_url)
    github = GitHub(settings.github_token, settings.github_api_url)
    pull = await github.pull(ref)
    diff = await github.pull_diff(ref)
    if args.config is None:
        text = await github.file_text(
            ref.owner, ref.repo, ".github/tierbot.yml", pull.default_branch
        )
        repo = RepoSettings.from_yaml(text) if text is not None else RepoSettings()
    context = f"Title: {pull.title}\n\n{pull.body}".strip()
    return _Input(f"{ref} ({pull.title})", diff, repo, context)


def _window(tier: Tier, settings: Settings) -> int:
    return settings.local_context_tokens if tier is Tier.LOCAL else FRONTIER_CONTEXT_TOKENS


def _estimates(
    plans: Mapping[Tier, Plan], settings: Settings, prices: PriceTable, gpu_hour: Decimal
) -> Estimates:
    """The cost of each tier's plan before it runs (estimated tokens, assumed output)."""
    tokens = {tier: plan.prompt_tokens for tier, plan in plans.items()}
    price = prices.require(settings.frontier_model)
    return Estimates(
        local=CostEstimate.for_review(tokens[Tier.LOCAL], price, gpu_hour_usd=gpu_hour),
        frontier=CostEstimate.for_review(tokens[Tier.FRONTIER], price, gpu_hour_usd=gpu_hour),
        local_prompt_tokens=tokens[Tier.LOCAL],
        frontier_prompt_tokens=tokens[Tier.FRONTIER],
    )


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
