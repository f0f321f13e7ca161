"""Job queue throughput: the embedded SQLite queue against the PostgreSQL one (procrastinate).

Each engine gets `--jobs` review jobs, one per pull request (so the one-job-per-PR rule never
holds a worker back), then `--workers` workers drain them:

- enqueue: jobs per second through the webhook side's `accept` (a delivery recorded and its job
  admitted in one transaction), from `--workers` threads at once;
- claim + finish: jobs per second through claim, a job that does nothing, and finish. SQLite:
  `--workers` threads looping `claim` and `complete` (as the in-process workers do).
  PostgreSQL: `--workers` procrastinate workers in one process (each fetching with its own
  connection, `FOR UPDATE SKIP LOCKED`), running a task that returns at once, until the queue is
  empty.

The PostgreSQL side uses a schema of its own on `--pg-url` (dropped after). Printed side by
side; compare runs only on the same machine.

    uv run python bench/jobqueues.py [--jobs 2000] [--workers 4] [--pg-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import procrastinate
import psycopg

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from bot.adapters.jobs import TASK, PgQueue, connect_url, migrate  # noqa: E402
from bot.adapters.queue import JobQueue  # noqa: E402
from bot.core.job import Job  # noqa: E402

PG_URL = os.environ.get("TIERBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _job(number: int) -> Job:
    return Job(
        "review", "octo", "widgets", number, installation_id=1, head_sha=f"{number:040x}",
        trigger="pull_request.synchronize",
    )  # fmt: skip


def _threads(count: int, work: Callable[[int], None]) -> float:
    """Run work(i) in `count` threads; the seconds they took together."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _enqueue(accept: Callable[..., Any], jobs: int, workers: int) -> float:
    def work(index: int) -> None:
        for number in range(index + 1, jobs + 1, workers):
            accept(str(uuid.uuid4()), "pull_request", "synchronize", [_job(number)])

    return _threads(workers, work)


def sqlite(jobs: int, workers: int) -> tuple[float, float]:
    """(enqueue seconds, claim + finish seconds) on a new SQLite file."""
    with tempfile.TemporaryDirectory() as folder, JobQueue(Path(folder) / "q.sqlite3") as queue:
        enqueue = _enqueue(queue.accept, jobs, workers)
        done = [0] * workers

        def work(index: int) -> None:
            name = f"bench:{index}"
            while (job := queue.claim(name, lease_seconds=60)) is not None:
                queue.complete(job.id, name, outcome="done")
                done[index] += 1

        drain = _threads(workers, work)
        if sum(done) != jobs:
            raise RuntimeError(f"SQLite ran {sum(done)} jobs of {jobs}")
    return enqueue, drain


async def _drain(url: str, jobs: int, workers: int) -> float:
    connector = procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=workers + 2)
    app = procrastinate.App(connector=connector)
    ran = [0]

    @app.task(name=TASK)
    async def nothing(job: dict[str, Any], queued_at: float) -> None:
        ran[0] += 1

    async with app.open_async():
        started = time.perf_counter()
        await asyncio.gather(
            *(
                app.run_worker_async(
                    queues=["frontier", "local", "default"],
                    name=f"bench-{i}",
                    concurrency=1,
                    wait=False,
                    listen_notify=False,
                    install_signal_handlers=False,
                )
                for i in range(workers)
            )
        )
        took = time.perf_counter() - started
    del nothing
    if ran[0] != jobs:
        raise RuntimeError(f"PostgreSQL ran {ran[0]} jobs of {jobs}")
    return took


def postgres(base_url: str, jobs: int, workers: int) -> tuple[float, float]:
    """(enqueue seconds, claim + finish seconds) in a new schema, dropped after."""
    schema = f"tierbot_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    try:
        migrate(url)
        queue = PgQueue(url, max_connections=workers + 1)
        try:
            enqueue = _enqueue(queue.accept, jobs, workers)
        finally:
            queue.close()
        drain = asyncio.run(_drain(connect_url(url), jobs, workers))
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return enqueue, drain


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args(argv)
    rows = [("sqlite", *sqlite(args.jobs, args.workers))]
    try:
        rows.append(("postgresql", *postgres(args.pg_url, args.jobs, args.workers)))
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
    print(f"{args.jobs} jobs, {args.workers} workers (jobs per second)")
    print(f"{'engine':<12} {'enqueue':>10} {'claim+finish':>14}")
    for engine, enqueue, drain in rows:
        print(f"{engine:<12} {args.jobs / enqueue:>10.0f} {args.jobs / drain:>14.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
