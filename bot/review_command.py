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
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

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
from bot.diff import ChangeSet, DiffError, parse
from bot.github import GitHub, GitHubError, parse_pull_url
from bot.models.anthropic import FrontierBackend
from bot.models.base import Backend
from bot.review.prompt import plan_review
from bot.review.render import Estimates, result_json, result_text
from bot.reviewer import budget_for, review_change
from bot.routing import Models, Tier, decide, without_excluded

FRONTIER_CONTEXT_TOKENS = 200_000
EXIT_OK = 0
EXIT_NOT_REVIEWED = 1
EXIT_INPUT_ERROR = 2


@dataclass(frozen=True, slots=True)
class _Input:
    title: str
    diff: bytes
    repo: RepoSettings
    context: str


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = commands.add_parser(
        "review",
        help="review a diff or a pull request and print the result",
        description="Review a change on the tier routing picks (or the one you force) and print "
        "the comments, coverage and cost. Nothing is posted to GitHub.",
    )
    review.add_argument("pr_url", nargs="?", metavar="PR_URL", help="a pull request URL")
    review.add_argument("--diff", metavar="PATH", help="a diff file to review, or - for stdin")
    review.add_argument(
        "--tier", choices=["auto", "local", "frontier"], default="auto", help="force a tier"
    )
    review.add_argument(
        "--dry-run", action="store_true", help="print what would be posted (always the case here)"
    )
    review.add_argument("--json", action="store_true", help="print one JSON object")
    review.add_argument("--config", type=Path, metavar="FILE", help="a repo settings file")
    review.set_defaults(run=run)


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

    frontier = FrontierBackend(
        settings.frontier_model,
        api_key=settings.anthropic_api_key,
        base_url=settings.anthropic_base_url,
        context_tokens=FRONTIER_CONTEXT_TOKENS,
    )
    local = _local_backend(settings)
    backends: dict[Tier, Backend] = {Tier.FRONTIER: frontier}
    if local is not None:
        backends[Tier.LOCAL] = local
    local_unavailable = (
        local.unavailable_reason() if local is not None else "TIERBOT_LOCAL_MODEL_DIR is not set"
    )
    models = Models(
        local=settings.local_model,
        frontier=settings.frontier_model,
        local_window=settings.local_context_tokens,
        local_unavailable=local_unavailable,
        frontier_unavailable=frontier.unavailable_reason(),
    )
    complexity = score(kept)
    paths = tuple(f.path for f in kept.files)
    override = None if args.tier == "auto" else Tier(args.tier)
    decision = decide(complexity, models, repo=given.repo, paths=paths, override=override)
    gpu_hour = settings.gpu_hour_usd if settings.gpu_hour_usd is not None else DEFAULT_GPU_HOUR_USD
    estimates = _estimates(kept, given, settings, prices, gpu_hour)
    configure = _configure(models)

    result = spend = None
    if decision.error is None:
        try:
            result = await review_change(
                kept, decision, backends, given.repo, context=given.context
            )
        finally:
            await frontier.aclose()
        spend = review_spend(result.attempts, prices, settings.frontier_model, gpu_hour)
    window = _window(decision.tier, settings)
    coverage = plan_review(kept, budget_for(decision.tier, window, given.repo, paths)).coverage
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


def _local_backend(settings: Settings) -> Backend | None:
    if not settings.local_model_dir:
        return None
    from bot.models.exllama import LocalBackend  # noqa: PLC0415 - the GPU stack loads on demand

    return LocalBackend(settings.local_model_dir, context_tokens=settings.local_context_tokens)


def _window(tier: Tier, settings: Settings) -> int:
    return settings.local_context_tokens if tier is Tier.LOCAL else FRONTIER_CONTEXT_TOKENS


def _estimates(
    changes: ChangeSet,
    given: _Input,
    settings: Settings,
    prices: PriceTable,
    gpu_hour: Decimal,
) -> Estimates:
    paths = tuple(f.path for f in changes.files)
    tokens: dict[Tier, int] = {}
    for tier in Tier:
        budget = budget_for(tier, _window(tier, settings), given.repo, paths)
        tokens[tier] = plan_review(changes, budget, given.repo, given.context).prompt_tokens
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
