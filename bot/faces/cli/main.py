"""The `tierbot` command. Each subcommand reads its inputs here and hands data to the pure core."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.env_file import EnvFileError, with_env_file
from bot.adapters.settings import Settings, SettingsError
from bot.core.pricing import PriceError, UnknownModelError
from bot.core.printable import json_line, printable
from bot.core.routing import Task
from bot.faces.cli.acceptance_table import write_acceptance
from bot.faces.cli.columns import write_columns
from bot.faces.cli.eval_args import add_command as add_eval_command
from bot.faces.cli.exits import EXIT_FAILED, EXIT_INPUT_ERROR, EXIT_OK, Failure, guarded
from bot.faces.cli.ledger_read import hide_password
from bot.faces.cli.report_text import economics_lines
from bot.faces.cli.worker import add_commands as add_scale_out_commands
from bot.faces.cli.worker import serve_scale_out

# Commands that print a result and end: their logs go to stderr, one line each, so standard
# output holds only the result and a failure never shows as a traceback.
_ONE_SHOT = {"review", "eval", "replay", "report", "calibrate", "doctor", "migrate"}
_READS_ENV_FILE = {"serve", "replay"}  # ./.env, which the App's registration writes
ENV_FILE = ".env"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of `python -m bot`. Exit codes: bot.faces.cli.exits."""
    parser = _parser()
    args = parser.parse_args(argv)
    json_errors = None  # with --json a failure still prints objects: one per input for score
    if getattr(args, "json", False) or getattr(args, "format", None) == "json":
        json_errors = args.paths if args.command == "score" else [None]
    return guarded(lambda: _run(args), json_errors=json_errors)


def _run(args: argparse.Namespace) -> int:
    try:
        env: Mapping[str, str] = os.environ
        if args.command in _READS_ENV_FILE:  # the App's commands read ./.env under the environment
            env = with_env_file(os.environ, Path(ENV_FILE))
        settings = Settings.from_env(env)
    except (SettingsError, EnvFileError) as exc:
        raise Failure(str(exc), EXIT_INPUT_ERROR) from None
    if args.command != "score":  # the one command that logs nothing keeps its quick start
        from bot.adapters import logs  # noqa: PLC0415 - structlog loads only for commands that log

        if args.command in _ONE_SHOT:
            logs.configure(logs.STDERR, tracebacks=False)
        else:
            logs.configure()
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
    score_cmd.set_defaults(run=_lazy("bot.faces.cli.score", "run"))
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
    review.set_defaults(run=_lazy("bot.faces.cli.review_command", "run"))
    add_eval_command(commands, _lazy("bot.faces.cli.eval_command", "run"))
    action_cmd = commands.add_parser(
        "action",
        help="run as a step of a GitHub Actions workflow (reads the runner's environment)",
        description="Route or review the pull request of the workflow's event "
        "(GITHUB_EVENT_NAME, GITHUB_EVENT_PATH) with the action's inputs (INPUT_MODE, "
        "INPUT_TIER, INPUT_MODEL_DIR, INPUT_CONFIG, INPUT_FAIL_ON, ...); outputs go to "
        "GITHUB_OUTPUT and a report to GITHUB_STEP_SUMMARY.",
    )
    action_cmd.set_defaults(run=_lazy("bot.faces.action.modes", "run"))
    doctor_cmd = commands.add_parser(
        "doctor",
        help="check the local tier: the GPU, the exllamav2 extension and the model",
        description="Say whether the GPU, the exllamav2 extension and the EXL2 model load, and "
        "how long one short generation takes. Exits 1 when the local model cannot run here.",
    )
    doctor_cmd.add_argument(
        "--model-dir",
        metavar="DIR",
        help="the EXL2 model folder (default: TIERBOT_LOCAL_MODEL_DIR)",
    )
    doctor_cmd.set_defaults(run=_lazy("bot.faces.action.doctor", "run_doctor"))

    serve_cmd = commands.add_parser(
        "serve",
        help="run the GitHub App's webhook server (its workers beside it, on SQLite)",
        description="Run the webhook server (POST /webhook, GET /healthz, GET /metrics) with "
        "the embedded defaults: a SQLite file for jobs and workers in a child process. Reads "
        "./.env under the environment; without App credentials, serves /setup to register the App. "
        "With TIERBOT_DATABASE_URL=postgresql://... it is one web replica of many, and "
        "`tierbot worker` processes run the jobs.",
    )
    serve_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve_cmd.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve_cmd.add_argument("--public-url", metavar="URL", help="setup: GitHub's way here")
    serve_cmd.add_argument("--org", metavar="ORG", help="setup: register for this organisation")
    serve_cmd.add_argument("--manifest", type=Path, default=Path("app.yml"), metavar="FILE")
    serve_cmd.set_defaults(run=_serve)

    report_cmd = commands.add_parser(
        "report",
        help="what reviews cost, by tier, against the all-frontier baseline",
        description="Reviews and requests by tier, escalations, spend against what the frontier "
        "model alone would have charged, the saving, GPU hours, comments by severity and the "
        "share with positive feedback; then, per tier, category and severity, the comments "
        "posted and held back, their 👍 and 👎, threads resolved, suggestions committed and "
        "the acceptance rate; from the ledger (TIERBOT_DATABASE_URL).",
    )
    report_cmd.add_argument("--repo", metavar="OWNER/NAME", help="one repository only")
    report_cmd.add_argument("--since", metavar="DATE", help="from this date (YYYY-MM-DD, UTC)")
    report_cmd.add_argument(
        "--until", metavar="DATE", help="up to, not including, this date (YYYY-MM-DD, UTC)"
    )
    report_cmd.add_argument("--format", choices=["table", "json", "csv"], default="table")
    report_cmd.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw spend against the all-frontier baseline by day, and the cost-quality curve",
    )
    report_cmd.set_defaults(run=_report)

    calibrate_cmd = commands.add_parser(
        "calibrate",
        help="the routing and escalation thresholds the ledger's shadow reviews support",
        description="From the shadow reviews and the feedback in the ledger "
        "(TIERBOT_DATABASE_URL): for each routing threshold, and each escalation threshold, "
        "the share of the work the frontier model would do, what it would cost, and the share "
        "of major or critical findings the local model would miss, with a 95% confidence "
        "interval; the cheapest threshold within the target, and the settings that apply it.",
    )
    calibrate_cmd.add_argument("--repo", metavar="OWNER/NAME", help="one repository only")
    calibrate_cmd.add_argument(
        "--target-miss-rate",
        metavar="X",
        help="the largest share of findings the local model may miss (default 0.1)",
    )
    calibrate_cmd.add_argument("--format", choices=["table", "json"], default="table")
    calibrate_cmd.set_defaults(run=_lazy("bot.faces.cli.calibrate", "run"))

    replay_cmd = commands.add_parser(
        "replay",
        help="run a saved webhook delivery through the same handlers, now",
    )
    replay_cmd.add_argument("payload", type=Path, metavar="PAYLOAD.json")
    replay_cmd.add_argument("--event", required=True, help="the X-GitHub-Event name")
    replay_cmd.set_defaults(run=_replay)
    add_scale_out_commands(commands)
    return parser


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace, Settings], int]:
    """A command's entry point, imported when the command runs: `tierbot score` does not pay
    for loading GitHub, model and database clients it never uses."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        entry: Callable[[argparse.Namespace, Settings], int] = getattr(
            importlib.import_module(module), name
        )
        return entry(args, settings)

    return run


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    if settings.on_postgres:
        return serve_scale_out(args, settings)
    with _shared_metrics():
        return _serve_embedded(args, settings)


@contextlib.contextmanager
def _shared_metrics() -> Iterator[None]:
    """On the embedded defaults the workers run in a child process: unless the operator chose a
    folder, count in prometheus-client's multiprocess mode in a temporary one, removed at exit,
    so that `/metrics` sums both processes. Set before prometheus-client is imported, which
    reads it then."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="tierbot-metrics-") as folder:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _serve_embedded(args: argparse.Namespace, settings: Settings) -> int:
    from bot.adapters.github import GitHubError  # noqa: PLC0415
    from bot.faces.app import listener, server, setup  # noqa: PLC0415 - loads only here

    try:
        with asyncio.Runner(loop_factory=listener.event_loop) as runner:
            if setup.wanted(settings):  # no App credentials: register the App from app.yml
                runner.run(setup.serve_for(settings, args, Path(ENV_FILE).resolve()))
            else:
                runner.run(server.serve(settings, args.host, args.port))
    except (SettingsError, UnknownModelError, PriceError) as exc:
        raise Failure(str(exc), EXIT_INPUT_ERROR) from None
    except GitHubError as exc:
        raise Failure(str(exc), EXIT_FAILED) from None
    return EXIT_OK


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - loads only for this command

    from bot.adapters.ledger import Ledger  # noqa: PLC0415 - the database stack loads only for this command

    since, until = _day("--since", args.since), _day("--until", args.until)
    try:
        ledger = Ledger(settings.database_url)
        try:
            ledger.migrate()
            report = ledger.report(repo=args.repo, since=since, until=until)
            trade_off = ledger.trade_off(repo=args.repo, since=since, until=until)
            acceptance = ledger.acceptance(repo=args.repo, since=since, until=until)
        finally:
            ledger.close()
    except SQLAlchemyError as exc:  # the database is out of reach, or its file cannot be opened
        cause = getattr(exc, "orig", None) or exc
        where = hide_password(settings.database_url)
        reason = str(cause).strip().splitlines()[0]
        raise Failure(f"cannot read the ledger at {where}: {reason}", EXIT_FAILED) from None
    from bot.faces.cli.trade_off import (  # noqa: PLC0415
        calibration_of,
        plot_trade_off,
        trade_off_json,
        write_shadows,
    )

    calibration = calibration_of(trade_off)
    data = report.as_dict(settings.gpu_cost, settings.throughput)
    data |= trade_off_json(trade_off, calibration)
    if args.plot is not None:
        plot_trade_off(trade_off, calibration, args.plot)
    data |= {"acceptance": acceptance.as_dict()}
    if args.format == "json":
        sys.stdout.write(json_line(data))
        return EXIT_OK
    rows = [
        (
            "tier",
            "reviews",
            "requests",
            "escalations",
            "tokens_in",
            "tokens_out",
            "usd",
            "baseline_usd",
            "gpu_hours",
            "positive_pct",
        )
    ]
    for tier, figures in data["tiers"].items():
        tokens = figures["tokens"]
        rows.append(
            (
                tier,
                str(figures["reviews"]),
                str(figures["requests"]),
                str(figures["escalations"]),
                str(tokens["input"] + tokens["cache_read"]),
                str(tokens["output"]),
                figures["usd"],
                figures["baseline_usd"],
                figures["gpu_hours"],
                str(figures["positive_share_pct"] or "-"),
            )
        )
    rows.append(
        (
            "total",
            str(data["reviews"]),
            "",
            str(data["escalations"]),
            "",
            "",
            data["spend_usd"],
            data["baseline_usd"],
            data["gpu_hours"],
            "",
        )
    )
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerows([[printable(str(cell)) for cell in row] for row in rows])
        return EXIT_OK
    write_columns(sys.stdout, [tuple(printable(str(cell)) for cell in row) for row in rows])
    saved = data["saved_pct"]
    sys.stdout.write(
        f"\nrouted spend ${data['spend_usd']} against ${data['baseline_usd']} all-frontier"
        + (f": {saved}% saved\n" if saved is not None else "\n")
    )
    if report.verify_usd:
        sys.stdout.write(
            f"of which ${data['verify_usd']} checked comments before they were posted\n"
        )
    sys.stdout.writelines(f"{line}\n" for line in economics_lines(data["economics"]))
    write_shadows(sys.stdout, data["shadows"])
    write_acceptance(sys.stdout, acceptance)
    return EXIT_OK


def _day(option: str, value: str | None) -> datetime | None:
    """A `--since` or `--until` date, as the start of that day in UTC."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise Failure(
            f"{option} must be a date like 2026-11-01, not {value!r}", EXIT_INPUT_ERROR
        ) from None


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from bot.adapters.github import GitHubError  # noqa: PLC0415
    from bot.faces.app import server  # noqa: PLC0415 - the server stack loads only for this command

    try:
        replayed = asyncio.run(server.replay(settings, args.payload, args.event))
    except (SettingsError, UnknownModelError, OSError, ValueError) as exc:
        raise Failure(str(exc), EXIT_INPUT_ERROR) from None
    except GitHubError as exc:
        raise Failure(str(exc), EXIT_FAILED) from None
    sys.stdout.write(printable(replayed.ack) + "\n")
    for job in replayed.jobs:
        sys.stdout.write(printable(f"{job.kind} {job.state}: {job.detail}") + "\n")
    failed = replayed.failed
    if failed is not None:
        raise Failure(failed.reason, EXIT_FAILED)
    return EXIT_OK
