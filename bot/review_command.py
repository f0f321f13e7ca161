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
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.adapters.github import GitHub, GitHubError, parse_pull_url
from bot.backends import backends_for, close_backends
from bot.complexity import score
from bot.config import RepoSettings, Settings
from bot.cost import (
    DEFAULT_GPU_HOUR_USD,
    CostEstimate,
    PriceError,
    PriceTable,
    UnknownModelError,
    review_spend,
)
from bot.diff import DiffError, parse
from bot.models.anthropic import DEFAULT_CONTEXT_TOKENS
from bot.review.prompt import Plan, plan_review
from bot.review.render import Estimates, result_json, result_text
from bot.reviewer import budget_for, review_change
from bot.routing import Models, Tier, decide, without_excluded

FRONTIER_CONTEXT_TOKENS = DEFAULT_CONTEXT_TOKENS
EXIT_OK = 0
EXIT_NOT_REVIEWED = 1
EXIT_INPUT_ERROR = 2


@dataclass(frozen=True, slots=True)
class _Input:
    title: str
    diff: bytes
    repo: RepoSettings
    context: str


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
        given = await _read_input(args, settings)
    except (GitHubError, OSError) as exc:
        print(f"tierbot: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    for problem in given.repo.problems:
        print(f"tierbot: repo settings: {problem}", file=sys.stderr)
    try:
        changes = parse(given.diff)
    except DiffError as exc:
        print(f"tierbot: {given.title}: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    kept, excluded = without_excluded(changes, given.repo)
    if kept is None:
        print(f"tierbot: {given.title}: every changed file is excluded by the repo settings")
        return EXIT_OK

    backends, models = backends_for(settings)
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
            result = await review_change(
                kept, decision, backends, given.repo, context=given.context
            )
        finally:
            await close_backends(backends)
        spend = review_spend(result.attempts, prices, settings.frontier_model, gpu_hour)
    coverage = plans[decision.tier].coverage
    if args.json:
        payload = result_json(result, decision, coverage, estimates, spend, configure, excluded)
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(
            result_text(
                given.title, result, decision, coverage, estimates, spend, configure, excluded
            )
        )
    if result is not None and result.failed:
        print(f"tierbot: not reviewed: {result.failed}", file=sys.stderr)
        return EXIT_NOT_REVIEWED
    if result is None and decision.error and override is not None:
        print(f"tierbot: {decision.error}", file=sys.stderr)
        return EXIT_NOT_REVIEWED
    return EXIT_OK


async def _read_input(args: argparse.Namespace, settings: Settings) -> _Input:
    repo = RepoSettings()
    if args.config is not None:
        repo = RepoSettings.from_yaml(args.config.read_text(encoding="utf-8"))
    if args.diff is not None:
        data = sys.stdin.buffer.read() if args.diff == "-" else Path(args.diff).read_bytes()
        title = "standard input" if args.diff == "-" else args.diff
        return _Input(title, data, repo, "")
    ref = parse_pull_url(args.pr_url)
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
