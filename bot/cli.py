"""The `tierbot` command. Each subcommand reads its inputs here and hands data to the pure core."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bot import review_command
from bot.complexity import score
from bot.config import RepoSettings, Settings, SettingsError
from bot.cost import UnknownModelError
from bot.diff import DiffError, parse
from bot.github import GitHubError
from bot.routing import Models, Task, decide, without_excluded

EXIT_OK = 0
EXIT_INPUT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of `python -m bot`."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"tierbot: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    result: int = args.run(args, settings)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tierbot",
        description="Review pull requests at the lowest cost that keeps the review good.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    score_cmd = commands.add_parser(
        "score",
        help="score diffs and print the routing decision for each",
        description="Score each diff's complexity and print the tier it would be routed to. "
        "The decision assumes both tiers are available; budgets are not applied.",
    )
    score_cmd.add_argument("paths", nargs="+", metavar="PATH", help="diff files, or - for stdin")
    score_cmd.add_argument(
        "--json", action="store_true", help="one JSON object per input, per line"
    )
    score_cmd.add_argument(
        "--config", type=Path, metavar="FILE", help="a repo settings file (.github/tierbot.yml)"
    )
    score_cmd.add_argument(
        "--task",
        choices=[t.value for t in Task],
        default=Task.REVIEW.value,
        help="the task to route (default: review)",
    )
    score_cmd.set_defaults(run=_score)
    review_command.add_parser(commands)

    serve_cmd = commands.add_parser(
        "serve",
        help="run the GitHub App's webhook server with in-process workers (SQLite)",
        description="Run the webhook server (POST /webhook, GET /healthz, GET /metrics) with "
        "the embedded defaults: a SQLite file for jobs and in-process workers.",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve_cmd.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve_cmd.set_defaults(run=_serve)

    replay_cmd = commands.add_parser(
        "replay",
        help="run a saved webhook delivery through the same handlers, now",
    )
    replay_cmd.add_argument("payload", type=Path, metavar="PAYLOAD.json")
    replay_cmd.add_argument("--event", required=True, help="the X-GitHub-Event name")
    replay_cmd.set_defaults(run=_replay)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot import server  # noqa: PLC0415 - the server stack loads only for this command

    try:
        asyncio.run(server.serve(settings, args.host, args.port))
    except (SettingsError, UnknownModelError, GitHubError) as exc:
        print(f"tierbot: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    return EXIT_OK


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from bot import server  # noqa: PLC0415 - the server stack loads only for this command

    try:
        outcomes = asyncio.run(server.replay(settings, args.payload, args.event))
    except (SettingsError, UnknownModelError, GitHubError, OSError, ValueError) as exc:
        print(f"tierbot: {exc}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    for outcome in outcomes:
        print(outcome)
    return EXIT_OK


def _score(args: argparse.Namespace, settings: Settings) -> int:
    repo = RepoSettings()
    if args.config is not None:
        try:
            repo = RepoSettings.from_yaml(args.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            print(f"tierbot: cannot read {args.config}: {exc}", file=sys.stderr)
            return EXIT_INPUT_ERROR
        for problem in repo.problems:
            print(f"tierbot: {args.config}: {problem}", file=sys.stderr)
    models = Models(
        local=settings.local_model,
        frontier=settings.frontier_model,
        local_window=settings.local_context_tokens,
    )
    results = [_score_one(path, repo, models, Task(args.task)) for path in args.paths]
    out = sys.stdout
    if args.json:
        for result in results:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
    else:
        _print_table(results, out)
    failed = [r for r in results if "error" in r]
    for result in failed:
        print(f"tierbot: {result['path']}: {result['error']}", file=sys.stderr)
    return EXIT_INPUT_ERROR if failed else EXIT_OK


def _score_one(path: str, repo: RepoSettings, models: Models, task: Task) -> dict[str, Any]:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        return {"path": path, "error": f"cannot read: {exc.strerror or exc}"}
    try:
        changes = parse(data)
    except DiffError as exc:
        return {"path": path, "error": str(exc)}
    kept, excluded = without_excluded(changes, repo)
    if kept is None:
        return {
            "path": path,
            "error": "every changed file is excluded by the repo settings",
            "excluded": excluded,
        }
    complexity = score(kept)
    decision = decide(
        complexity, models, task=task, repo=repo, paths=tuple(f.path for f in kept.files)
    )
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
            rows.append(("-", "error", "-", "-", "-", r["path"], r["error"]))
        else:
            rows.append(
                (
                    str(r["score"]),
                    r["tier"],
                    str(r["files"]),
                    str(r["additions"]),
                    str(r["deletions"]),
                    r["path"],
                    r["reasons"][0],
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        cells = [
            cell.rjust(w) if i in (0, 2, 3, 4) else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=False))
        ]
        out.write("  ".join([*cells, row[6]]).rstrip() + "\n")
