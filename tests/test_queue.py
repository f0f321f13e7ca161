"""The embedded job queue on real SQLite files: dedupe, coalescing, the command limit, one job per
PR, leases, retries.

Time is a fake clock the tests move, so leases and backoffs expire without sleeping; concurrency
tests use real threads on one file, as the server's `asyncio.to_thread` calls do.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.adapters.queue import SCHEMA_VERSION, JobQueue, LeaseLostError
from bot.core.caps import Caps
from bot.core.job import Job


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def review(number: int = 7, head: str = "a1", *, repo: str = "widgets") -> Job:
    return Job(
        "review", "octo", repo, number, installation_id=42, head_sha=head, trigger="pull_request"
    )


def command(number: int = 7, text: str = "/review full") -> Job:
    return Job("command", "octo", "widgets", number, payload={"command": text, "comment_id": 9})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tierbot.sqlite3"


@pytest.fixture
def queue(path: Path, clock: FakeClock) -> Iterator[JobQueue]:
    with JobQueue(path, clock=clock) as q:
        yield q


def test_an_enqueued_job_reads_back_with_every_field(queue: JobQueue, clock: FakeClock) -> None:
    job = Job(
        "command",
        "octo",
        "widgets",
        7,
        installation_id=42,
        head_sha="abc",
        trigger="issue_comment:/ask why",
        tier_hint="frontier",
        payload={"command": "/ask why", "comment_id": 123, "user": "mona"},
    )
    job_id = queue.enqueue(job)
    stored = queue.get(job_id)
    assert stored is not None
    assert (stored.kind, stored.owner, stored.repo, stored.number) == (
        "command",
        "octo",
        "widgets",
        7,
    )
    assert (stored.installation_id, stored.head_sha, stored.tier_hint) == (42, "abc", "frontier")
    assert stored.trigger == "issue_comment:/ask why"
    assert stored.payload == {"command": "/ask why", "comment_id": 123, "user": "mona"}
    assert (stored.state, stored.attempts, stored.created_at) == ("waiting", 0, clock.now)
    assert queue.get(job_id + 1) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": " "},
        {"owner": ""},
        {"repo": ""},
        {"number": 0},
        {"tier_hint": "gpu"},
    ],
)
def test_a_job_without_a_kind_a_pr_or_with_an_unknown_tier_is_refused(
    bad: dict[str, object],
) -> None:
    fields: dict[str, object] = {"kind": "review", "owner": "o", "repo": "r", "number": 1} | bad
    with pytest.raises(ValueError):  # noqa: PT011
        Job(**fields)  # type: ignore[arg-type]


def test_depth_counts_every_state(queue: JobQueue) -> None:
    assert queue.depth() == {"waiting": 0, "running": 0, "done": 0, "failed": 0}
    queue.enqueue(review(1))
    queue.enqueue(review(2))
    job = queue.claim("w", lease_seconds=30)
    assert job is not None
    queue.complete(job.id, "w", outcome="posted")
    assert queue.depth() == {"waiting": 1, "running": 0, "done": 1, "failed": 0}


# Dedupe


def test_a_delivery_is_recorded_once(queue: JobQueue) -> None:
    assert queue.record_delivery("d-1", "pull_request", "opened") is True
    assert queue.record_delivery("d-1", "pull_request", "opened") is False
    assert queue.record_delivery("d-2", "ping", None) is True
    with pytest.raises(ValueError, match="delivery id"):
        queue.record_delivery("", "ping", None)


def test_a_redelivered_delivery_enqueues_nothing(queue: JobQueue) -> None:
    first = queue.accept("d-1", "issue_comment", "created", [command()])
    assert first is not None
    assert len(first) == 1
    assert queue.accept("d-1", "issue_comment", "created", [command()]) is None
    assert queue.depth()["waiting"] == 1


def test_the_same_delivery_from_eight_threads_at_once_is_accepted_once(queue: JobQueue) -> None:
    barrier = threading.Barrier(8)
    results: list[list[int] | None] = []

    def deliver() -> None:
        barrier.wait()
        results.append(queue.accept("d-race", "issue_comment", "created", [command()]))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(result is not None for result in results) == 1
    assert queue.depth()["waiting"] == 1


def test_accept_is_atomic_a_job_that_cannot_be_stored_leaves_the_delivery_unrecorded(
    queue: JobQueue,
) -> None:
    unstorable = Job("command", "octo", "widgets", 7, payload={"when": object()})
    with pytest.raises(TypeError):
        queue.accept("d-1", "issue_comment", "created", [command(), unstorable])
    assert queue.depth()["waiting"] == 0
    # GitHub's redelivery of the same id is then taken as new.
    assert queue.accept("d-1", "issue_comment", "created", [command()]) is not None


def test_an_oversized_payload_is_refused(queue: JobQueue) -> None:
    with pytest.raises(ValueError, match="payload"):
        queue.enqueue(Job("command", "o", "r", 1, payload={"body": "x" * 300_000}))


# Coalescing


def test_three_pushes_while_waiting_leave_one_review_of_the_latest_head(queue: JobQueue) -> None:
    ids = [queue.enqueue(review(head=head)) for head in ("a1", "b2", "c3")]
    assert len(set(ids)) == 1
    assert queue.depth()["waiting"] == 1
    job = queue.claim("w", lease_seconds=30)
    assert job is not None
    assert job.head_sha == "c3"
    assert queue.claim("w2", lease_seconds=30) is None


def test_pushes_to_different_prs_do_not_coalesce(queue: JobQueue) -> None:
    ids = {queue.enqueue(review(1)), queue.enqueue(review(2)), queue.enqueue(review(1, repo="x"))}
    assert len(ids) == 3


def test_owner_and_repo_match_without_regard_to_case(queue: JobQueue) -> None:
    first = queue.enqueue(Job("review", "Octo", "Widgets", 7, head_sha="a1"))
    assert queue.enqueue(Job("review", "octo", "widgets", 7, head_sha="b2")) == first


def test_a_push_during_a_running_review_waits_for_it(queue: JobQueue) -> None:
    queue.enqueue(review(head="a1"))
    running = queue.claim("w1", lease_seconds=30)
    assert running is not None
    newer = queue.enqueue(review(head="b2"))
    assert newer != running.id
    assert queue.enqueue(review(head="c3")) == newer
    assert queue.claim("w2", lease_seconds=30) is None
    queue.complete(running.id, "w1", outcome="posted")
    follow_up = queue.claim("w2", lease_seconds=30)
    assert follow_up is not None
    assert (follow_up.id, follow_up.head_sha) == (newer, "c3")


def test_commands_do_not_coalesce(queue: JobQueue) -> None:
    ids = {queue.enqueue(command(text="/ask a")), queue.enqueue(command(text="/ask b"))}
    assert len(ids) == 2
    assert queue.enqueue(review()) not in ids


# Command limit

LIMIT = (10, 600.0)


def command_on(number: int = 7, *, owner: str = "octo", repo: str = "widgets") -> Job:
    return Job("command", owner, repo, number, payload={"command": "review", "comment_id": 9})


def comment(
    queue: JobQueue,
    delivery: str,
    *jobs: Job,
    limit: tuple[int, float] | None = LIMIT,
) -> list[int] | None:
    """Deliver a PR comment's jobs (one command when none given) under `limit`: the ids stored."""
    return queue.accept(
        delivery, "issue_comment", "created", list(jobs) or [command()], command_limit=limit
    )


def test_the_eleventh_command_on_a_pr_within_the_window_is_refused(
    queue: JobQueue, clock: FakeClock
) -> None:
    for i in range(10):
        admitted = queue.admit(
            f"d-{i}", "issue_comment", "created", [command()], command_limit=LIMIT
        )
        assert admitted is not None
        assert (len(admitted.ids), admitted.refused) == (1, [])
        clock.advance(59)  # the tenth lands at +531 s, all within 600 s of the first
    over = command()
    refused = queue.admit("d-10", "issue_comment", "created", [over], command_limit=LIMIT)
    assert refused is not None
    assert (refused.ids, refused.refused) == ([], [over])
    assert queue.depth()["waiting"] == 10
    # The delivery is handled all the same: its redelivery is a duplicate, not a second try.
    assert queue.admit("d-10", "issue_comment", "created", [over], command_limit=LIMIT) is None
    # `accept` leaves the refused command out of its ids.
    assert comment(queue, "d-11") == []


def test_commands_are_allowed_again_as_the_window_slides(queue: JobQueue, clock: FakeClock) -> None:
    first_at = clock.now
    for i in range(10):
        assert comment(queue, f"d-{i}")
        clock.advance(1)
    assert comment(queue, "d-x") == []
    clock.now = first_at + 600  # the first command is now out of the window, the others not
    assert comment(queue, "d-y")
    assert comment(queue, "d-z") == []
    clock.advance(600)
    assert all(comment(queue, f"d-late-{i}") for i in range(10))
    assert comment(queue, "d-late-x") == []
    assert queue.depth()["waiting"] == 21


def test_finished_commands_count_and_refused_ones_do_not(queue: JobQueue, clock: FakeClock) -> None:
    for i in range(10):
        comment(queue, f"d-{i}")
    while (job := queue.claim("w", lease_seconds=30)) is not None:
        queue.complete(job.id, "w", outcome="answered")
    for i in range(50):  # a flood while limited does not extend the limit
        clock.advance(1)
        assert comment(queue, f"d-flood-{i}") == []
    clock.advance(550)
    assert comment(queue, "d-after")


def test_reviews_and_replies_are_not_limited(queue: JobQueue) -> None:
    for i in range(10):
        comment(queue, f"d-{i}")
    reply = Job("reply", "octo", "widgets", 7, payload={"comment_id": 1})
    for i in range(20):
        admitted = queue.admit(
            f"d-push-{i}",
            "pull_request",
            "synchronize",
            [review(head=f"h{i}"), reply],
            command_limit=LIMIT,
        )
        assert admitted is not None
        assert (len(admitted.ids), admitted.refused) == (2, [])
    assert queue.depth()["waiting"] == 10 + 1 + 20


def test_the_limit_is_per_pr_and_owner_and_repo_match_without_regard_to_case(
    queue: JobQueue,
) -> None:
    for i in range(10):
        comment(queue, f"d-{i}", command_on())
    assert comment(queue, "d-same", command_on(owner="OCTO", repo="Widgets")) == []
    others = [command_on(8), command_on(repo="gadgets"), command_on(owner="x")]
    assert all(comment(queue, f"d-other-{i}", job) for i, job in enumerate(others))


def test_without_a_limit_commands_are_not_counted_but_stored(queue: JobQueue) -> None:
    assert all(comment(queue, f"d-{i}", limit=None) for i in range(30))
    assert comment(queue, "d-x") == []


def test_commands_in_one_delivery_count_each_other(queue: JobQueue) -> None:
    admitted = queue.admit(
        "d-1", "issue_comment", "created", [command()] * 4, command_limit=(3, 60.0)
    )
    assert admitted is not None
    assert (len(admitted.ids), len(admitted.refused)) == (3, 1)


def test_a_duplicate_or_a_rolled_back_delivery_uses_none_of_the_limit(queue: JobQueue) -> None:
    limit = (3, 600.0)
    assert comment(queue, "d-1", limit=limit)
    assert all(comment(queue, "d-1", limit=limit) is None for _ in range(5))
    # Two commands that would fit, the second not storable: neither is kept, nor counted.
    unstorable = Job("command", "octo", "widgets", 7, payload={"when": object()})
    with pytest.raises(TypeError):
        comment(queue, "d-2", command(), unstorable, limit=limit)
    assert queue.depth()["waiting"] == 1
    assert comment(queue, "d-2", limit=limit)
    assert comment(queue, "d-3", limit=limit)
    assert comment(queue, "d-4", limit=limit) == []
    assert queue.depth()["waiting"] == 3


def test_twenty_commands_from_eight_threads_at_once_store_exactly_the_limit(
    queue: JobQueue,
) -> None:
    barrier = threading.Barrier(8)
    stored: list[int] = []
    lock = threading.Lock()

    def deliver(worker: int) -> None:
        barrier.wait()
        for i in range(20):
            ids = comment(queue, f"d-{worker}-{i}")
            assert ids is not None
            with lock:
                stored.extend(ids)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stored) == 10
    assert queue.depth()["waiting"] == 10


@pytest.mark.parametrize(
    "bad", [(0, 600.0), (10, 0.0), (10, -1.0), (10, float("nan")), (True, 1.0)]
)
def test_a_command_limit_that_allows_nothing_is_refused(
    queue: JobQueue, bad: tuple[int, float]
) -> None:
    with pytest.raises(ValueError, match="command limit"):
        comment(queue, "d-1", limit=bad)
    assert queue.record_delivery("d-1", "issue_comment", "created") is True


def test_the_count_uses_the_command_index(queue: JobQueue, path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        plan = conn.execute(
            """EXPLAIN QUERY PLAN SELECT count(*) FROM queue_jobs WHERE kind = 'command'
            AND owner = ? AND repo = ? AND number = ? AND created_at > ?""",
            ("octo", "widgets", 7, 0.0),
        ).fetchall()
    finally:
        conn.close()
    assert any("queue_jobs_commands_by_pr" in row[-1] for row in plan), plan


# One job per PR


def test_eight_claimers_never_run_two_jobs_of_one_pr_at_once(queue: JobQueue) -> None:
    """Jobs for three PRs, worked by eight threads: each PR's jobs run one at a time, in order."""
    expected: dict[int, list[int]] = {1: [], 2: [], 3: []}
    for i in range(8):
        for number in (1, 2, 3):
            expected[number].append(queue.enqueue(command(number, f"/ask {i}")))
    running: set[int] = set()
    ran: dict[int, list[int]] = {1: [], 2: [], 3: []}
    overlaps: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def work(name: str) -> None:
        barrier.wait()
        while queue.depth()["done"] < 24:
            job = queue.claim(name, lease_seconds=60)
            if job is None:
                continue
            with lock:
                if job.number in running:
                    overlaps.append(job.number)
                running.add(job.number)
                ran[job.number].append(job.id)
            threading.Event().wait(0.001)
            with lock:
                running.discard(job.number)
            queue.complete(job.id, name, outcome="ok")

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert overlaps == []
    assert ran == expected
    assert queue.depth() == {"waiting": 0, "running": 0, "done": 24, "failed": 0}


def test_a_pr_busy_with_one_job_does_not_hold_up_other_prs(queue: JobQueue) -> None:
    first = queue.enqueue(command(1))
    queue.enqueue(command(1))
    other = queue.enqueue(command(2))
    claimed = queue.claim("w1", lease_seconds=30)
    assert claimed is not None
    assert claimed.id == first
    next_job = queue.claim("w2", lease_seconds=30)
    assert next_job is not None
    assert next_job.id == other


# Leases


def test_a_job_whose_lease_ran_out_is_taken_up_by_another_worker(
    queue: JobQueue, clock: FakeClock
) -> None:
    job_id = queue.enqueue(review())
    first = queue.claim("w1", lease_seconds=2)
    assert first is not None
    clock.advance(1.5)
    assert queue.claim("w2", lease_seconds=2) is None
    clock.advance(1)
    second = queue.claim("w2", lease_seconds=2)
    assert second is not None
    assert (second.id, second.attempts) == (job_id, 2)

    assert queue.renew(job_id, "w1", lease_seconds=2) is False
    with pytest.raises(LeaseLostError):
        queue.complete(job_id, "w1", outcome="posted")
    with pytest.raises(LeaseLostError):
        queue.fail(job_id, "w1", error="boom", retryable=True)
    still = queue.get(job_id)
    assert still is not None
    assert still.state == "running"

    queue.complete(job_id, "w2", outcome="posted")
    done = queue.get(job_id)
    assert done is not None
    assert (done.state, done.outcome) == ("done", "posted")


def test_renewing_keeps_the_lease(queue: JobQueue, clock: FakeClock) -> None:
    job_id = queue.enqueue(review())
    assert queue.claim("w1", lease_seconds=2) is not None
    for _ in range(5):
        clock.advance(1.5)
        assert queue.renew(job_id, "w1", lease_seconds=2) is True
        assert queue.claim("w2", lease_seconds=2) is None
    clock.advance(2)
    assert queue.claim("w2", lease_seconds=2) is not None


def test_an_expired_lease_nobody_took_up_is_still_held(queue: JobQueue, clock: FakeClock) -> None:
    """A lease is lost when another claim takes the job up, not at the instant it runs out."""
    job_id = queue.enqueue(review())
    assert queue.claim("w1", lease_seconds=1) is not None
    clock.advance(5)
    assert queue.renew(job_id, "w1", lease_seconds=1) is True
    queue.complete(job_id, "w1", outcome="posted")


def test_a_short_lease_runs_out_on_the_real_clock(path: Path) -> None:
    with JobQueue(path) as queue:
        queue.enqueue(review())
        assert queue.claim("w1", lease_seconds=0.05) is not None
        threading.Event().wait(0.1)
        job = queue.claim("w2", lease_seconds=0.05)
        assert job is not None
        assert job.attempts == 2


def test_a_job_that_keeps_losing_its_worker_ends_failed(path: Path, clock: FakeClock) -> None:
    with JobQueue(path, clock=clock, max_attempts=2) as queue:
        job_id = queue.enqueue(review())
        for _ in range(2):
            assert queue.claim("w", lease_seconds=1) is not None
            clock.advance(2)
        assert queue.claim("w", lease_seconds=1) is None
        job = queue.get(job_id)
        assert job is not None
        assert job.state == "failed"
        assert job.error is not None
        assert "lease expired" in job.error
        assert "gave up after 2 attempts" in job.error


def test_an_expired_review_yields_to_a_newer_push(queue: JobQueue, clock: FakeClock) -> None:
    old = queue.enqueue(review(head="a1"))
    assert queue.claim("w1", lease_seconds=1) is not None
    newer = queue.enqueue(review(head="b2"))
    clock.advance(2)
    job = queue.claim("w2", lease_seconds=1)
    assert job is not None
    assert (job.id, job.head_sha) == (newer, "b2")
    superseded = queue.get(old)
    assert superseded is not None
    assert (superseded.state, superseded.outcome) == ("done", f"superseded by job {newer}")


def test_claim_refuses_a_lease_that_is_not_positive(queue: JobQueue) -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        queue.claim("w", lease_seconds=0)


# Retries


def test_retryable_failures_back_off_four_times_longer_each_time_up_to_fifteen_minutes(
    path: Path, clock: FakeClock
) -> None:
    with JobQueue(path, clock=clock, jitter=lambda: 1.0) as queue:
        job_id = queue.enqueue(review())
        for attempt, delay in enumerate([10, 40, 160, 640, 900, 900], start=1):
            job = queue.claim("w", lease_seconds=30)
            assert job is not None
            assert job.attempts == attempt
            assert queue.fail(job_id, "w", error=f"GitHub 502 #{attempt}", retryable=True) == (
                "waiting"
            )
            clock.advance(delay - 0.5)
            assert queue.claim("w", lease_seconds=30) is None
            clock.advance(0.5)
        waiting = queue.get(job_id)
        assert waiting is not None
        assert (waiting.state, waiting.error) == ("waiting", "GitHub 502 #6")


def test_jitter_spreads_a_backoff_over_its_upper_half(path: Path, clock: FakeClock) -> None:
    draws = iter([0.0, 0.5])
    with JobQueue(path, clock=clock, jitter=lambda: next(draws)) as queue:
        job_id = queue.enqueue(review())
        for delay in (5.0, 30.0):  # half of 10 s; then three quarters of 40 s
            assert queue.claim("w", lease_seconds=30) is not None
            queue.fail(job_id, "w", error="GitHub 503", retryable=True)
            job = queue.get(job_id)
            assert job is not None
            assert job.run_after == pytest.approx(clock.now + delay)
            clock.advance(delay)


def test_a_retry_waits_until_the_time_the_service_named(queue: JobQueue, clock: FakeClock) -> None:
    job_id = queue.enqueue(review())
    assert queue.claim("w", lease_seconds=30) is not None
    reset = clock.now + 1800  # a rate limit that resets in half an hour
    assert queue.fail(job_id, "w", error="rate limit", retryable=True, retry_at=reset) == "waiting"
    clock.now = reset - 1
    assert queue.claim("w", lease_seconds=30) is None
    clock.now = reset
    assert queue.claim("w", lease_seconds=30) is not None


def test_retries_end_failed_the_give_up_time_after_the_first_failure(
    path: Path, clock: FakeClock
) -> None:
    with JobQueue(path, clock=clock, give_up_seconds=3600, jitter=lambda: 1.0) as queue:
        job_id = queue.enqueue(review())
        first_failure = clock.now
        tries, state = 0, "waiting"
        while state == "waiting":
            assert queue.claim("w", lease_seconds=30) is not None
            tries += 1
            state = queue.fail(job_id, "w", error=f"GitHub 503 #{tries}", retryable=True)
            stored = queue.get(job_id)
            assert stored is not None
            assert stored.failing_since == first_failure
            assert stored.run_after <= first_failure + 3600  # the last try runs on time
            clock.now = max(clock.now, stored.run_after)
        assert state == "failed"
        assert clock.now == first_failure + 3600
        # Tries at 0, 10, 50, 210, 850, 1750, 2650 and 3550 s, and the last one at the hour.
        assert tries == 9
        failed = queue.get(job_id)
        assert failed is not None
        assert failed.error == "GitHub 503 #9; gave up after 9 attempts over 60 min"
        assert [job.id for job in queue.recent_failures()] == [job_id]


def test_a_job_told_to_wait_past_the_give_up_time_ends_failed_at_once(
    path: Path, clock: FakeClock
) -> None:
    with JobQueue(path, clock=clock, give_up_seconds=600) as queue:
        job_id = queue.enqueue(review())
        assert queue.claim("w", lease_seconds=30) is not None
        later = clock.now + 3600
        assert queue.fail(job_id, "w", error="rate limit", retryable=True, retry_at=later) == (
            "failed"
        )
        failed = queue.get(job_id)
        assert failed is not None
        assert failed.error == (
            "rate limit; gave up after 1 attempt: told to wait 60 min, past the time allowed"
        )


def test_a_push_starts_the_give_up_time_again(path: Path, clock: FakeClock) -> None:
    with JobQueue(path, clock=clock, give_up_seconds=600) as queue:
        job_id = queue.enqueue(review(head="a1"))
        assert queue.claim("w", lease_seconds=30) is not None
        assert queue.fail(job_id, "w", error="GitHub 503", retryable=True) == "waiting"
        clock.advance(500)
        assert queue.enqueue(review(head="b2")) == job_id
        fresh = queue.get(job_id)
        assert fresh is not None
        assert (fresh.attempts, fresh.failing_since, fresh.error) == (0, None, None)
        assert queue.claim("w", lease_seconds=30) is not None
        clock.advance(200)  # 700 s after the first failure, 200 s after the push
        assert queue.fail(job_id, "w", error="GitHub 503", retryable=True) == "waiting"


def test_a_job_that_keeps_losing_its_worker_also_gives_up_in_time(
    path: Path, clock: FakeClock
) -> None:
    with JobQueue(path, clock=clock, give_up_seconds=100) as queue:
        job_id = queue.enqueue(review())
        claims = 0
        while queue.claim("w", lease_seconds=60) is not None:
            claims += 1
            clock.advance(61)
        # The first expiry, found at +61 s, starts the time; the one found at +183 s ends it.
        assert claims == 3
        job = queue.get(job_id)
        assert job is not None
        assert job.state == "failed"
        assert job.error == (
            "lease expired on worker w (attempt 3); gave up after 3 attempts over 2 min"
        )


def test_a_non_retryable_failure_ends_at_once(queue: JobQueue) -> None:
    job_id = queue.enqueue(review())
    assert queue.claim("w", lease_seconds=30) is not None
    assert queue.fail(job_id, "w", error="diff does not parse", retryable=False) == "failed"
    failed = queue.get(job_id)
    assert failed is not None
    assert (failed.state, failed.error) == ("failed", "diff does not parse")
    assert queue.depth()["failed"] == 1


def test_a_failing_review_with_a_newer_push_waiting_is_superseded(queue: JobQueue) -> None:
    old = queue.enqueue(review(head="a1"))
    assert queue.claim("w", lease_seconds=30) is not None
    newer = queue.enqueue(review(head="b2"))
    assert queue.fail(old, "w", error="timeout", retryable=True) == "done"
    job = queue.claim("w", lease_seconds=30)
    assert job is not None
    assert (job.id, job.head_sha) == (newer, "b2")


def test_a_push_resets_a_review_waiting_out_its_backoff(queue: JobQueue) -> None:
    job_id = queue.enqueue(review(head="a1"))
    assert queue.claim("w", lease_seconds=30) is not None
    assert queue.fail(job_id, "w", error="timeout", retryable=True) == "waiting"
    assert queue.enqueue(review(head="b2")) == job_id
    job = queue.claim("w", lease_seconds=30)
    assert job is not None
    assert (job.head_sha, job.attempts) == ("b2", 1)


# Deliveries held until they can be routed


def test_a_held_delivery_waits_in_order_until_released(queue: JobQueue) -> None:
    assert queue.hold("d-1", "issue_comment", b'{"a": 1}', max_held=10) is True
    assert queue.hold("d-2", "pull_request_review_comment", b"{}", max_held=10) is True
    assert queue.held_count() == 2
    first, second = queue.held()
    assert (first.delivery_id, first.event, first.body) == ("d-1", "issue_comment", b'{"a": 1}')
    assert second.delivery_id == "d-2"
    queue.release("d-1")
    assert [d.delivery_id for d in queue.held()] == ["d-2"]


def test_a_redelivery_of_a_held_or_accepted_delivery_is_not_held_again(queue: JobQueue) -> None:
    assert queue.hold("d-1", "issue_comment", b"{}", max_held=10) is True
    assert queue.hold("d-1", "issue_comment", b"{}", max_held=10) is False
    queue.accept("d-2", "issue_comment", "created", [])
    assert queue.hold("d-2", "issue_comment", b"{}", max_held=10) is False
    assert queue.held_count() == 1


def test_no_more_than_max_held_deliveries_are_held(queue: JobQueue) -> None:
    assert queue.hold("d-1", "issue_comment", b"{}", max_held=1) is True
    assert queue.hold("d-2", "issue_comment", b"{}", max_held=1) is None
    assert queue.held_count() == 1


# The file


def test_jobs_and_deliveries_survive_reopening_the_file(path: Path, clock: FakeClock) -> None:
    with JobQueue(path, clock=clock) as first:
        first.accept("d-1", "pull_request", "opened", [review(1)])
        first.enqueue(review(2))
        assert first.claim("w-dead", lease_seconds=1) is not None
    clock.advance(2)
    with JobQueue(path, clock=clock) as second:
        assert second.record_delivery("d-1", "pull_request", "opened") is False
        assert second.depth() == {"waiting": 1, "running": 1, "done": 0, "failed": 0}
        claimed = [second.claim("w-new", lease_seconds=1) for _ in range(2)]
        assert Counter(job.number for job in claimed if job) == {1: 1, 2: 1}


def test_the_queue_shares_its_file_with_other_tables(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE reviews (id INTEGER PRIMARY KEY, cost TEXT)")
        conn.execute("INSERT INTO reviews (cost) VALUES ('0.01')")
    conn.close()
    JobQueue(path).close()
    JobQueue(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT count(*) FROM reviews").fetchone() == (1,)
        assert conn.execute("SELECT version FROM queue_schema").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()


def test_a_file_from_a_newer_queue_schema_is_refused(path: Path) -> None:
    JobQueue(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE queue_schema SET version = version + 1")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        JobQueue(path)


def test_a_file_from_schema_version_1_is_upgraded_in_place(path: Path, clock: FakeClock) -> None:
    with JobQueue(path, clock=clock) as queue:
        queue.accept("d-1", "issue_comment", "created", [command()])
    conn = sqlite3.connect(path)
    with conn:  # back to what version 1 made: no command index, no author column
        conn.execute("DROP INDEX queue_deliveries_by_pr")
        for column in ("owner", "repo", "number"):
            conn.execute(f"ALTER TABLE queue_deliveries DROP COLUMN {column}")
        conn.execute("DROP INDEX queue_jobs_commands_by_pr")
        conn.execute("DROP INDEX queue_jobs_recent_by_repo")
        conn.execute("DROP INDEX queue_jobs_by_author")
        conn.execute("ALTER TABLE queue_jobs DROP COLUMN author")
        conn.execute("DROP TABLE queue_held")
        conn.execute("ALTER TABLE queue_jobs DROP COLUMN failing_since")
        conn.execute("UPDATE queue_schema SET version = 1")
    conn.close()
    with JobQueue(path, clock=clock) as queue:
        assert comment(queue, "d-2", limit=(1, 60.0)) == []
        assert queue.depth()["waiting"] == 1
        [job] = [queue.get(i) for i in (1,)]
        assert job is not None
        assert job.failing_since is None
        assert queue.held_count() == 0
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM queue_schema").fetchall() == [(SCHEMA_VERSION,)]
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"queue_jobs_commands_by_pr", "queue_held", "queue_jobs_by_author"} <= names
        assert "queue_jobs_recent_by_repo" in names
        assert "queue_deliveries_by_pr" in names
    finally:
        conn.close()


def test_a_push_received_after_a_command_is_known_whatever_became_of_its_review(
    queue: JobQueue, clock: FakeClock
) -> None:
    queue.accept("d-1", "pull_request", "opened", [review(7)])
    opened = queue.claim("w", lease_seconds=30)
    assert opened is not None
    queue.complete(opened.id, "w", outcome="reviewed")
    clock.advance(5)
    [asked] = queue.accept("d-2", "issue_comment", "created", [command(7)]) or []
    job = queue.get(asked)
    assert job is not None
    assert not queue.pushed_since("octo", "widgets", 7, job.created_at)
    clock.advance(1)
    queue.accept("d-3", "pull_request", "synchronize", [review(8)])  # another pull request
    queue.accept("d-4", "issue_comment", "created", [command(7)])  # not a push
    assert not queue.pushed_since("octo", "widgets", 7, job.created_at)
    # A push whose review a cap refuses is still a push.
    caps = Caps(reviews_per_author=1)
    queue.admit("d-5", "pull_request", "synchronize", [replace(review(9), author="mallory")])
    pushed = replace(review(7, "b2"), author="mallory")
    admitted = queue.admit("d-6", "pull_request", "synchronize", [pushed], caps=caps)
    assert admitted is not None
    assert admitted.capped
    assert queue.pushed_since("OCTO", "Widgets", 7, job.created_at)
    assert not queue.pushed_since("octo", "widgets", 7, clock())


def test_the_queue_needs_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file"):
        JobQueue(":memory:")


def test_a_closed_queue_refuses_calls(path: Path) -> None:
    queue = JobQueue(path)
    queue.close()
    with pytest.raises(RuntimeError, match="closed"):
        queue.depth()


def test_prune_removes_finished_jobs_and_old_deliveries(queue: JobQueue, clock: FakeClock) -> None:
    queue.accept("d-1", "pull_request", "opened", [review(1), review(2)])
    job = queue.claim("w", lease_seconds=30)
    assert job is not None
    queue.complete(job.id, "w", outcome="posted")
    clock.advance(100)
    assert queue.prune(older_than=50) == 2
    assert queue.get(job.id) is None
    assert queue.depth() == {"waiting": 1, "running": 0, "done": 0, "failed": 0}
    assert queue.record_delivery("d-1", "pull_request", "opened") is True
