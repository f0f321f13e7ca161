"""The scale-out commands: `tierbot worker` (run jobs from PostgreSQL), `tierbot migrate` (apply
the ledger's and the queue's schema), and `tierbot serve` on a postgresql:// URL (a web replica).

The heavy stacks (procrastinate, the models, the server) are imported only when a command runs.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.adapters.settings import Settings, SettingsError
from bot.core.job import QUEUES
from bot.core.pricing import PriceError, UnknownModelError
from bot.faces.cli.exits import EXIT_FAILED, EXIT_INPUT_ERROR, EXIT_OK, Failure


def add_commands(commands: Any) -> None:
    """Add `worker` and `migrate` to the `tierbot` command parser's subcommands."""
    worker_cmd = commands.add_parser(
        "worker",
        help="run jobs from the PostgreSQL queue (scale-out mode)",
        description="Run review jobs from the PostgreSQL queue (TIERBOT_DATABASE_URL="
        "postgresql://...) until stopped. On the local queue the model loads once and "
        "--concurrency jobs run at once, so their generations batch.",
    )
    worker_cmd.add_argument(
        "--queues",
        default="local,frontier,default",
        help="comma-separated queues to take jobs from: local, frontier, default "
        "(default: all three)",
    )
    worker_cmd.add_argument(
        "--concurrency", type=int, default=4, help="jobs run at once (default: 4)"
    )
    worker_cmd.add_argument(
        "--stalled-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="put back in line the jobs of a worker silent this long (default: 30)",
    )
    worker_cmd.set_defaults(run=run_worker)
    migrate_cmd = commands.add_parser(
        "migrate",
        help="apply the ledger's and the job queue's schema to TIERBOT_DATABASE_URL",
        description="Bring the ledger's schema to its newest revision and, on PostgreSQL, "
        "create the job queue's tables. Safe to run again, and from several processes.",
    )
    migrate_cmd.set_defaults(run=run_migrate)


def _queues(text: str) -> list[str]:
    queues = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if not queues or unknown:
        raise Failure(
            f"--queues takes local, frontier and default, comma-separated; got {text!r}",
            EXIT_INPUT_ERROR,
        )
    return queues


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    """`tierbot worker`."""
    if not settings.on_postgres:
        raise Failure(
            "tierbot worker runs jobs from PostgreSQL: set TIERBOT_DATABASE_URL=postgresql://... "
            "(with SQLite, `tierbot serve` runs its own workers)",
            EXIT_INPUT_ERROR,
        )
    queues = _queues(args.queues)
    if args.concurrency < 1 or not args.stalled_after > 0:
        raise Failure(
            "--concurrency must be at least 1 and --stalled-after positive", EXIT_INPUT_ERROR
        )
    from bot.faces.app import workers_pg  # noqa: PLC0415 - the worker stack loads only here

    return _guard(
        workers_pg.run_worker(
            settings,
            queues=queues,
            concurrency=args.concurrency,
            stalled_after=args.stalled_after,
        )
    )


def serve_scale_out(args: argparse.Namespace, settings: Settings) -> int:
    """`tierbot serve` on PostgreSQL: a web replica, without workers."""
    from bot.faces.app import listener, scaleout  # noqa: PLC0415 - the server stack loads here

    with asyncio.Runner(loop_factory=listener.event_loop) as runner:
        return _guard(scaleout.serve_web(settings, args.host, args.port), runner)


def run_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """`tierbot migrate`."""
    del args
    import psycopg  # noqa: PLC0415 - the database stack loads only for this command
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from bot.adapters.ledger import Ledger  # noqa: PLC0415

    where = settings.database_url.split("@")[-1]
    try:
        ledger = Ledger(settings.database_url)
        try:
            ledger.migrate()
        finally:
            ledger.close()
        if settings.on_postgres:
            from bot.adapters.jobs import migrate  # noqa: PLC0415

            migrate(settings.database_url)
    except (SQLAlchemyError, psycopg.Error) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise Failure(f"cannot migrate the database at {where}: {reason}", EXIT_FAILED) from None
    queue = " and the job queue's" if settings.on_postgres else ""
    print(f"the ledger's{queue} schema is up to date at {where}")
    return EXIT_OK


def _guard(work: Any, runner: asyncio.Runner | None = None) -> int:
    """Run a coroutine; a wrong setting exits 2, an unreachable database or GitHub 1."""
    from bot.adapters.github import GitHubError  # noqa: PLC0415
    from bot.faces.app.scaleout import DatabaseUnreachableError  # noqa: PLC0415

    try:
        if runner is not None:
            runner.run(work)
        else:
            asyncio.run(work)
    except (SettingsError, UnknownModelError, PriceError, ValueError) as exc:
        raise Failure(str(exc), EXIT_INPUT_ERROR) from None
    except (GitHubError, DatabaseUnreachableError) as exc:
        raise Failure(str(exc), EXIT_FAILED) from None
    return EXIT_OK
