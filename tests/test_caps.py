"""The hourly caps on work by accounts without write access: the decision (bot.core.caps), and the
queue that applies it as it stores jobs, on a real SQLite file with a fake clock.

The webhook app and the workers on top are tested end to end in tests/test_cost_attack.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.queue import JobQueue
from bot.adapters.settings import Settings, SettingsError
from bot.core.caps import Caps, Refusal
from bot.core.job import Job
from tests.test_queue import FakeClock

CAPS = Caps()  # the defaults: 10 and 60 reviews, 20 and 120 commands, per author and repo
HOUR = 3600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(tmp_path: Path, clock: FakeClock) -> Iterator[JobQueue]:
    with JobQueue(tmp_path / "tierbot.sqlite3", clock=clock) as q:
        yield q


def opened(number: int, author: str | None = "mallory", repo: str = "widgets") -> Job:
    return Job(
        "review", "octo", repo, number, head_sha=f"h{number}", trigger="pull_request.opened",
        author=author,
    )  # fmt: skip


def asked(number: int, author: str | None = "mallory", kind: str = "command") -> Job:
    payload = {"command": "ask", "args": ["why?"], "user": author or "mona", "comment_id": number}
    return Job(kind, "octo", "widgets", number, payload=payload, author=author)


def deliver(queue: JobQueue, delivery: str, *jobs: Job, caps: Caps | None = CAPS) -> list[int]:
    admitted = queue.admit(delivery, "pull_request", "opened", list(jobs), caps=caps)
    assert admitted is not None
    return admitted.ids


def kinds(queue: JobQueue) -> list[str]:
    found = []
    while (job := queue.claim("w", lease_seconds=30)) is not None:
        queue.complete(job.id, "w", outcome="done")
        found.append(job.kind)
    return found


# --- the decision --------------------------------------------------------------------------------


def test_the_author_cap_is_checked_before_the_repo_cap() -> None:
    assert CAPS.check("review", "mallory", "octo/widgets", 9, 59) is None
    by_author = CAPS.check("review", "mallory", "octo/widgets", 10, 0)
    assert by_author == Refusal("review", "author", "mallory", "octo/widgets", 10, HOUR)
    by_repo = CAPS.check("command", "mallory", "octo/widgets", 0, 120)
    assert by_repo == Refusal("command", "repo", "mallory", "octo/widgets", 120, HOUR)


def test_a_refusal_says_why_without_mentioning_anyone() -> None:
    author = Refusal("review", "author", "mallory", "octo/widgets", 10, HOUR)
    assert author.text() == (
        "`mallory` has reached the cap of 10 reviews per hour that an account without write "
        "access gets on octo/widgets"
    )
    assert author.ack == "ignored: review cap for `mallory` on octo/widgets (10 per hour)"
    repo = Refusal("command", "repo", "mallory", "octo/widgets", 120, HOUR)
    assert repo.text() == (
        "accounts without write access have together reached the cap of 120 commands per hour "
        "on octo/widgets"
    )
    assert "@" not in author.text() + repo.text()


@pytest.mark.parametrize(
    "bad", [{"reviews_per_author": 0}, {"commands_per_repo": -1}, {"window_seconds": 0.0}]
)
def test_a_cap_that_allows_nothing_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="cap"):
        Caps(**bad)  # type: ignore[arg-type]


def test_the_caps_come_from_their_environment_variables() -> None:
    assert Settings.from_env({}).caps == CAPS
    env = {
        "TIERBOT_REVIEWS_PER_AUTHOR_HOUR": "3",
        "TIERBOT_REVIEWS_PER_REPO_HOUR": "30",
        "TIERBOT_COMMANDS_PER_AUTHOR_HOUR": "5",
        "TIERBOT_COMMANDS_PER_REPO_HOUR": "50",
    }
    assert Settings.from_env(env).caps == Caps(3, 30, 5, 50)
    with pytest.raises(SettingsError, match="TIERBOT_REVIEWS_PER_REPO_HOUR"):
        Settings.from_env({"TIERBOT_REVIEWS_PER_REPO_HOUR": "0"})


# --- the queue -----------------------------------------------------------------------------------


def test_100_pull_requests_by_one_account_queue_10_reviews_and_one_notice(
    queue: JobQueue,
) -> None:
    refused = []
    for number in range(1, 101):
        admitted = queue.admit(f"d-{number}", "pull_request", "opened", [opened(number)], caps=CAPS)
        assert admitted is not None
        refused += admitted.capped
    assert len(refused) == 90
    assert {r.scope for r in refused} == {"author"}
    assert kinds(queue) == ["review"] * 10 + ["notice"]


def test_the_notice_carries_the_reason_to_the_pull_request_refused_first(
    queue: JobQueue,
) -> None:
    for number in range(1, 12):
        deliver(queue, f"d-{number}", opened(number))
    jobs = []
    while (job := queue.claim("w", lease_seconds=30)) is not None:
        queue.complete(job.id, "w", outcome="done")
        jobs.append(job)
    notice = jobs[-1]
    assert (notice.kind, notice.number, notice.author) == ("notice", 11, "mallory")
    assert notice.payload == {
        "work": "review",
        "reason": Refusal("review", "author", "mallory", "octo/widgets", 10, HOUR).text(),
        "user": "mallory",
    }


def test_pushes_to_a_waiting_review_add_no_work_and_are_not_refused(queue: JobQueue) -> None:
    for number in range(1, 11):
        deliver(queue, f"d-{number}", opened(number))
    # Ten reviews wait; pushes to them replace them in place, however many.
    for push in range(30):
        assert deliver(queue, f"push-{push}", opened(push % 10 + 1))
    assert queue.depth()["waiting"] == 10
    assert deliver(queue, "d-11", opened(11)) == [11]  # the 11th PR: its notice only
    assert kinds(queue) == ["review"] * 10 + ["notice"]


def test_accounts_with_write_access_are_not_counted(queue: JobQueue) -> None:
    for number in range(1, 31):
        deliver(queue, f"m-{number}", opened(number, author=None), asked(number, author=None))
    assert deliver(queue, "d-1", opened(100))  # mallory's first is still allowed
    assert kinds(queue).count("notice") == 0


def test_many_accounts_together_stop_at_the_repo_cap_and_each_is_told_once(
    queue: JobQueue,
) -> None:
    refused = []
    for number in range(1, 71):  # 70 accounts, one pull request each
        admitted = queue.admit(
            f"d-{number}", "pull_request", "opened", [opened(number, f"sock{number}")], caps=CAPS
        )
        assert admitted is not None
        refused += admitted.capped
    assert [r.scope for r in refused] == ["repo"] * 10
    assert kinds(queue) == ["review"] * 60 + ["notice"] * 10
    # Another repository has its own count.
    assert deliver(queue, "other", opened(1, "sock1", repo="gadgets"))


def test_thread_replies_are_counted_apart_from_commands_and_dropped_without_a_notice(
    queue: JobQueue,
) -> None:
    # A contributor answering their reviewers in 40 threads: 20 replies kept, 20 dropped
    # silently (they may not have been meant for the bot), and their commands are untouched.
    refused = []
    for i in range(40):
        admitted = queue.admit(f"r-{i}", "pull_request_review_comment", "created",
                               [asked(i + 1, kind="reply")], caps=CAPS)  # fmt: skip
        assert admitted is not None
        refused += admitted.capped
    assert {(r.work, r.scope) for r in refused} == {("reply", "author")}
    assert len(refused) == 20
    assert deliver(queue, "c-1", asked(1))
    assert sorted(kinds(queue)) == ["command"] + ["reply"] * 20


def test_reviews_and_commands_are_capped_and_told_apart(queue: JobQueue) -> None:
    for i in range(25):
        deliver(queue, f"c-{i}", asked(i + 1))
    for number in range(1, 13):
        deliver(queue, f"r-{number}", opened(number))
    got = kinds(queue)
    assert (got.count("command"), got.count("review"), got.count("notice")) == (20, 10, 2)


def test_the_window_slides_and_refused_work_does_not_extend_it(
    queue: JobQueue, clock: FakeClock
) -> None:
    def capped(delivery: str, number: int) -> bool:
        admitted = queue.admit(delivery, "pull_request", "opened", [opened(number)], caps=CAPS)
        assert admitted is not None
        return bool(admitted.capped)

    first = clock.now
    for number in range(1, 11):
        assert not capped(f"d-{number}", number)
        clock.advance(60)
    assert all(capped(f"d-{number}", number) for number in range(11, 61))  # a flood: not counted
    clock.now = first + HOUR  # the first review has left the window, the other nine not
    assert not capped("late", 200)
    assert capped("later", 201)
    assert kinds(queue) == ["review"] * 10 + ["notice"] + ["review"]
    clock.now = first + 3 * HOUR  # a new hour: allowed again, and a refusal is told again
    assert [capped(f"n-{number}", number) for number in range(300, 311)] == [False] * 10 + [True]
    assert kinds(queue) == ["review"] * 10 + ["notice"]


def test_eight_threads_delivering_at_once_store_exactly_the_cap(queue: JobQueue) -> None:
    barrier = threading.Barrier(8)
    stored: list[int] = []

    def flood(worker: int) -> None:
        barrier.wait()
        for i in range(25):
            stored.extend(deliver(queue, f"t-{worker}-{i}", opened(worker * 100 + i + 1)))

    threads = [threading.Thread(target=flood, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(stored) == 11  # 10 reviews and the one notice
    assert kinds(queue).count("review") == 10


def test_the_counts_read_a_range_of_an_index_not_the_repos_jobs(
    queue: JobQueue, tmp_path: Path
) -> None:
    """The caps' counts seek their window in an index: the repo's by kind and time, the
    account's by kind, author and time; neither reads every job the repo ever had."""
    import sqlite3

    conn = sqlite3.connect(tmp_path / "tierbot.sqlite3")
    recent = "owner = ? AND repo = ? AND kind IN (?) AND created_at > ?"
    try:
        by_repo, by_author = (
            conn.execute(
                f"EXPLAIN QUERY PLAN SELECT 1 FROM queue_jobs WHERE {recent} {more}", args
            ).fetchall()
            for more, args in (
                ("AND author IS NOT NULL LIMIT 5", ("octo", "widgets", "review", 0.0)),
                ("AND author = ? LIMIT 5", ("octo", "widgets", "review", 0.0, "mona")),
            )
        )
    finally:
        conn.close()
    assert any(
        "queue_jobs_recent_by_repo" in row[-1] and "created_at>?" in row[-1] for row in by_repo
    ), by_repo
    assert any(
        "queue_jobs_by_author" in row[-1] and "author=? AND created_at>?" in row[-1]
        for row in by_author
    ), by_author
