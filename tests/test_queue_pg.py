"""The job queue on PostgreSQL (bot.adapters.jobs): its schema, deliveries acted on once,
reviews that coalesce under procrastinate's queueing lock, the queues jobs go to, and admission
that agrees with the SQLite queue's on the same deliveries (one set of rules)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.adapters.jobs import PgQueue, migrate, missing_tables, queue_for
from bot.adapters.queue import JobQueue
from bot.core.caps import Caps
from bot.core.job import Job
from tests.postgres import fresh_schema
from tests.test_caps import asked, opened
from tests.test_queue import FakeClock


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


@pytest.fixture
def queue(url: str) -> Iterator[PgQueue]:
    migrate(url)
    q = PgQueue(url, clock=FakeClock())
    yield q
    q.close()


def todo(url: str) -> list[tuple[str, str | None, dict[str, object]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT queue_name, queueing_lock, args FROM procrastinate_jobs "
            "WHERE status = 'todo' ORDER BY id"
        ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def test_migrate_applies_both_schemas_once(url: str) -> None:
    assert "procrastinate_jobs" in missing_tables(url)
    assert migrate(url) is True
    assert missing_tables(url) == []
    assert migrate(url) is False  # a second run changes nothing and does not fail


def test_a_delivery_is_acted_on_once(queue: PgQueue) -> None:
    assert queue.accept("d1", "pull_request", "opened", [opened(1)]) is not None
    assert queue.accept("d1", "pull_request", "opened", [opened(1)]) is None
    assert queue.depth()["waiting"] == 1


def test_a_burst_of_pushes_leaves_one_waiting_review_of_the_latest_head(
    queue: PgQueue, url: str
) -> None:
    for i in range(5):
        job = Job("review", "octo", "widgets", 7, head_sha=f"head{i}", trigger="synchronize")
        queue.accept(f"push-{i}", "pull_request", "synchronize", [job])
    (waiting,) = todo(url)
    assert waiting[0] == "frontier"
    assert waiting[1] == "review:octo/widgets#7"
    assert waiting[2]["job"]["head_sha"] == "head4"  # type: ignore[index]
    assert queue.pushed_since("octo", "widgets", 7, 0.0)


def test_concurrent_replicas_coalesce_without_losing_a_pull_request(
    queue: PgQueue, url: str
) -> None:
    def push(worker: int) -> None:
        for i in range(20):
            number = 1 + (worker * 20 + i) % 5
            job = Job("review", "octo", "widgets", number, head_sha=f"h{worker}-{i}")
            queue.accept(f"d-{worker}-{i}", "pull_request", "synchronize", [job])
            queue.accept(f"d-{worker}-{i}", "pull_request", "synchronize", [job])  # redelivery

    threads = [threading.Thread(target=push, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    locks = sorted(lock or "" for _, lock, _ in todo(url))
    assert locks == [f"review:octo/widgets#{n}" for n in range(1, 6)]


def test_jobs_go_to_the_queue_of_their_work() -> None:
    review = opened(1)
    assert queue_for(review, local=True) == "local"
    assert queue_for(review, local=False) == "frontier"
    hinted = Job("review", "o", "r", 1, tier_hint="frontier")
    assert queue_for(hinted, local=True) == "frontier"
    assert queue_for(asked(1), local=True) == "local"
    help_command = Job("command", "o", "r", 1, payload={"command": "help"})
    assert queue_for(help_command, local=True) == "default"
    assert queue_for(Job("notice", "o", "r", 1), local=True) == "default"


def test_admission_agrees_with_the_sqlite_queue(queue: PgQueue, tmp_path: Path) -> None:
    """The same deliveries, under tight caps and a command limit, store and refuse the same
    jobs on both engines, notices included."""
    caps = Caps(reviews_per_author=2, reviews_per_repo=3, commands_per_author=2)
    deliveries: list[list[Job]] = (
        [[opened(n, author="mallory")] for n in range(1, 5)]
        + [[asked(n, author="eve")] for n in range(1, 6)]
        + [[opened(9, author=None)]]
    )
    deliveries += [[asked(1, author=None)] for _ in range(4)]
    results = []
    with JobQueue(tmp_path / "q.sqlite3", clock=FakeClock()) as sqlite:
        for engine in (sqlite, queue):
            seen = []
            for i, jobs in enumerate(deliveries):
                admitted = engine.admit(
                    f"d{i}", "issue_comment", "created", jobs, command_limit=(3, 60.0), caps=caps
                )
                assert admitted is not None
                capped = tuple(r.text() for r in admitted.capped)
                seen.append(
                    (len(admitted.ids), len(admitted.refused), len(admitted.notices), capped)
                )
            results.append(seen)
    assert results[0] == results[1]
    assert any(notices for _, _, notices, _ in results[1])  # the caps did refuse something
    assert any(refused for _, refused, _, _ in results[1])  # and so did the command limit
