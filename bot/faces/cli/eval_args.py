"""The `tierbot eval` command's arguments, apart from the command so that building the parser
loads none of the review's modules (`tierbot score` keeps its quick start)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.core.findings import DEFAULT_WITHIN


def add_command(commands: Any, run: Callable[[argparse.Namespace, Any], int]) -> None:
    """Add `eval` to the `tierbot` command parser's subcommands, to be run by `run`."""
    command = commands.add_parser(
        "eval",
        help="review labelled changes offline: hit rate, precision, tokens and cost per tier",
        description="Review each change of a JSON Lines dataset (tierbot's format or "
        "CodeReviewer's) as `tierbot review --diff` would, posting nothing, and report the hit "
        "rate (expected findings a comment landed near), precision (comments that hit an "
        "expected finding; on clean changes every comment is a false positive), comments per "
        "change, and the tokens and dollars of each tier.",
    )
    command.add_argument("dataset", type=Path, metavar="DATASET.jsonl")
    command.add_argument(
        "--tier", choices=["auto", "local", "frontier"], default="auto", help="force a tier"
    )
    command.add_argument("--format", choices=["text", "json"], default="text")
    command.add_argument(
        "--within",
        type=_lines,
        default=DEFAULT_WITHIN,
        metavar="N",
        help="a comment this many lines or fewer from an expected finding hits it "
        "(default %(default)s)",
    )
    command.add_argument(
        "--limit", type=_positive, metavar="N", help="only the first N changes of the dataset"
    )
    command.add_argument("--config", type=Path, metavar="FILE", help="a repo settings file")
    command.set_defaults(run=run)


def _lines(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value
