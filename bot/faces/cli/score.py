"""`tierbot score PATH... | -`: the routing decision for each diff, through the pipeline's own
parse, exclude, score and decide (bot.pipeline.change), with each tier's estimated cost for the
cost rule (bot.pipeline.estimate), as a review would have them."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from bot.adapters.prices import PriceTable
from bot.adapters.settings import Settings, models_for
from bot.core.pricing import PriceError, UnknownModelError
from bot.core.printable import json_line, printable, warn
from bot.core.repo_settings import RepoSettings
from bot.core.routing import Models, Task
from bot.faces.cli.columns import write_columns
from bot.faces.cli.diff_input import read_diff
from bot.faces.cli.exits import EXIT_INPUT_ERROR, EXIT_OK, Failure
from bot.pipeline.change import Unreadable, read_change, route
from bot.pipeline.estimate import estimates, plans


def run(args: argparse.Namespace, settings: Settings) -> int:
    """`tierbot score`: each diff's complexity, tier and why, as a table or JSON lines."""
    repo = RepoSettings()
    if args.config is not None:
        try:
            repo = RepoSettings.from_yaml(args.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise Failure(f"cannot read {args.config}: {exc}", EXIT_INPUT_ERROR) from None
        for problem in repo.problems:
            warn(f"{args.config}: {problem}")
    try:
        prices = PriceTable.for_settings(settings.prices_file)
        prices.require(settings.frontier_model)
    except (UnknownModelError, PriceError) as exc:
        raise Failure(str(exc), EXIT_INPUT_ERROR) from None
    models = models_for(settings)
    priced = _Priced(settings, prices)
    results = [_score_one(path, repo, models, Task(args.task), priced) for path in args.paths]
    out = sys.stdout
    if args.json:
        for result in results:
            out.write(json_line(result))
    else:
        _print_table(results, out)
    failed = [r for r in results if "error" in r]
    for result in failed:
        warn(f"{result['path']}: {result['error']}")
    return EXIT_INPUT_ERROR if failed else EXIT_OK


@dataclass(frozen=True, slots=True)
class _Priced:
    """What the estimates need: the settings (windows, GPU, throughput) and the prices."""

    settings: Settings
    prices: PriceTable


def _score_one(
    path: str, repo: RepoSettings, models: Models, task: Task, priced: _Priced
) -> dict[str, Any]:
    try:
        data = read_diff(path)
    except OSError as exc:
        return {"path": path, "error": f"cannot read: {exc.strerror or exc}"}
    read = read_change(data, repo)
    if isinstance(read, Unreadable):
        if read.changes is None:
            return {"path": path, "error": read.error}
        return {
            "path": path,
            "error": "every changed file is excluded by the repo settings",
            "excluded": list(read.excluded),
        }
    estimated = estimates(plans(read, repo, "", priced.settings), priced.settings, priced.prices)
    complexity, decision = route(
        read,
        repo,
        models,
        task=task,
        frontier_estimate_usd=estimated.frontier.frontier_usd,
        local_estimate_usd=estimated.local.local_usd,
    )
    changes, excluded = read.changes, list(read.excluded)
    result: dict[str, Any] = {
        "path": path,
        "score": decision.score,
        "tier": decision.tier.value,
        "model": decision.model,
        "task": decision.task.value,
        "reasons": list(decision.reasons),
        "features": complexity.features,
        "files": len(changes.files),
        "additions": changes.added,
        "deletions": changes.removed,
    }
    if excluded:
        result["excluded"] = excluded
    return result


def _print_table(results: list[dict[str, Any]], out: TextIO) -> None:
    rows = [("SCORE", "TIER", "FILES", "+", "-", "INPUT", "WHY")]
    for r in results:
        if "error" in r:
            rows.append(("-", "error", "-", "-", "-", printable(r["path"]), printable(r["error"])))
        else:
            rows.append(
                (
                    str(r["score"]),
                    r["tier"],
                    str(r["files"]),
                    str(r["additions"]),
                    str(r["deletions"]),
                    printable(r["path"]),
                    printable(_why(r["score"], r["reasons"])),
                )
            )
    write_columns(out, rows, numeric=(0, 2, 3, 4), last_free=True)


def _why(score_: int, reasons: Sequence[str]) -> str:
    """What drove the decision, for the table: the routing rule when it is more than the score
    against the threshold (the SCORE and TIER columns say that), then what drove the score."""
    drivers = [r for r in reasons if not r.startswith(f"complexity {score_} is ")]
    return "; ".join(drivers[:_WHY_REASONS])


_WHY_REASONS = 3
