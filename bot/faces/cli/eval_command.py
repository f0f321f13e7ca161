"""`tierbot eval DATASET.jsonl`: review labelled changes offline and say how well it went.

Each change of the dataset (bot.adapters.datasets reads both formats) goes through the same
steps as `tierbot review --diff` (bot.pipeline.diff_review): the App's routing decision, prompt,
review and escalation, as a dry run with nothing posted and no GitHub. Its comments are then
matched against the findings a person expected (bot.core.findings) and the figures added up
(bot.core.scorecard). Changes run one after another, each reported as it ended: a model that
fails or cannot run on one change leaves that change "not reviewed", with why, and the run goes
on. The models come from the same settings as every other command.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import replace

from bot.adapters.datasets import DatasetError, read_dataset
from bot.adapters.models.backends import backends_for, close_backends
from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings
from bot.core.findings import Labelled, match
from bot.core.pricing import PriceError, UnknownModelError
from bot.core.printable import json_line, printable, warn
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Models, Tier
from bot.core.scorecard import Scored, Status, Totals, totals
from bot.core.scorecard_render import change_rows, scorecard_json, summary_lines, tier_rows
from bot.faces.cli.columns import write_columns
from bot.faces.cli.exits import EXIT_FAILED, EXIT_INPUT_ERROR, EXIT_OK, Failure
from bot.faces.cli.progress import Progress, with_progress
from bot.pipeline.change import Unreadable
from bot.pipeline.diff_review import decide_diff, diff_services, review_ready
from bot.pipeline.services import Services


def run(args: argparse.Namespace, settings: Settings) -> int:
    """`tierbot eval`: exit 0 when every change was reviewed (or had nothing to review), 1 when
    any could not be, 2 for a dataset, setting or price that cannot be used."""
    try:
        prices = PriceTable.for_settings(settings.prices_file)
        prices.require(settings.frontier_model)
    except (UnknownModelError, PriceError) as exc:
        raise Failure(f"prices: {exc}", EXIT_INPUT_ERROR) from None
    repo = RepoSettings()
    if args.config is not None:
        try:
            repo = RepoSettings.from_yaml(args.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise Failure(f"cannot read {args.config}: {exc}", EXIT_INPUT_ERROR) from None
        for problem in repo.problems:
            warn(f"{args.config}: {problem}")
    try:
        changes = read_dataset(args.dataset, args.limit)
    except OSError as exc:
        raise Failure(
            f"cannot read {args.dataset}: {exc.strerror or exc}", EXIT_INPUT_ERROR
        ) from None
    except DatasetError as exc:
        raise Failure(f"{args.dataset}: {exc}", EXIT_INPUT_ERROR) from None
    override = None if args.tier == "auto" else Tier(args.tier)
    models, scored = asyncio.run(_evaluate(changes, settings, prices, repo, override, args.within))
    figures = totals(scored)
    if args.format == "json":
        data = scorecard_json(
            scored, figures, dataset=str(args.dataset), tier=args.tier, within=args.within
        )
        data["models"] = _models_json(models)
        sys.stdout.write(json_line(data))
    else:
        _print_text(args, scored, figures, models)
    if figures.not_reviewed:
        warn(f"{figures.not_reviewed} of {figures.changes} changes could not be reviewed")
        return EXIT_FAILED
    return EXIT_OK


async def _evaluate(
    changes: Sequence[Labelled],
    settings: Settings,
    prices: PriceTable,
    repo: RepoSettings,
    override: Tier | None,
    within: int,
) -> tuple[Models, list[Scored]]:
    backends, models = backends_for(settings)
    progress = Progress(sys.stderr)
    services = diff_services(settings, prices, with_progress(backends, progress), models)
    scored: list[Scored] = []
    try:
        async with progress.running():
            for number, change in enumerate(changes, start=1):
                progress.doing(f"change {number} of {len(changes)} ({change.id})")
                scored.append(await _one(change, repo, services, override, within))
    finally:
        await close_backends(backends)
    return models, scored


async def _one(
    change: Labelled,
    repo: RepoSettings,
    services: Services,
    override: Tier | None,
    within: int,
) -> Scored:
    """One labelled change through the pipeline, and how its review met what was expected."""
    base = Scored(change.id, change.line, Status.NOT_REVIEWED, change.expected)
    ready = await decide_diff(change.diff, repo, services, override=override)
    if isinstance(ready, Unreadable):
        status = Status.NOT_REVIEWED if ready.changes is None else Status.SKIPPED
        return replace(base, status=status, why=ready.problem)
    decision = ready.decided.decision
    base = replace(base, tier=decision.tier, model=decision.model, reasons=decision.reasons)
    nothing = ready.nothing_to_review()
    if nothing is not None:
        return replace(base, status=Status.SKIPPED, why=nothing)
    if decision.error is not None:
        return replace(base, why=decision.error)
    result, spend = await review_ready(ready, repo, services)
    posted = (*result.secrets, *result.comments)
    return replace(
        base,
        status=Status.NOT_REVIEWED if result.failed else Status.REVIEWED,
        why=result.failed or "",
        tier=result.tier,
        model=result.model,
        escalation=result.escalation,
        comments=posted,
        matched=None if result.failed else match(posted, change.expected, within),
        attempts=result.attempts,
        spend=spend if result.all_attempts else None,
        checks=result.all_attempts[len(result.attempts) :],
    )


def _models_json(models: Models) -> dict[str, dict[str, str | None]]:
    return {
        "local": {"model": models.local, "unavailable": models.local_unavailable},
        "frontier": {"model": models.frontier, "unavailable": models.frontier_unavailable},
    }


def _print_text(
    args: argparse.Namespace, scored: Sequence[Scored], figures: Totals, models: Models
) -> None:
    out = sys.stdout
    out.write(
        printable(
            f"tierbot eval of {args.dataset} (tier: {args.tier}; a comment within "
            f"{args.within} lines of an expected finding hits it)"
        )
        + "\n"
    )
    for tier, why in (
        ("local", models.local_unavailable),
        ("frontier", models.frontier_unavailable),
    ):
        if why is not None:
            out.write(printable(f"The {tier} model is not available: {why}.") + "\n")
    out.write("\n")
    write_columns(
        out,
        [tuple(printable(cell) for cell in row) for row in change_rows(scored)],
        numeric=(2, 3, 4, 5),
        last_free=True,
    )
    out.write("\n")
    write_columns(out, tier_rows(figures), numeric=(1, 2, 3, 4, 5, 6, 7, 8))
    out.write("\n")
    for line in summary_lines(figures):
        out.write(printable(line) + "\n")
