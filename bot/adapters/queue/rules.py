"""The admission rules, in one place for both queues: the per-pull-request command limit, the
caps on accounts without write access and their notices, and what coalesces. The SQLite queue
(bot.adapters.queue.store) and the PostgreSQL one (bot.adapters.jobs) each give a `Book` over
their own transaction; `admit_jobs` decides with it, so the two engines admit alike."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from bot.adapters.queue.rows import Admitted
from bot.adapters.queue.schema import COALESCING_KIND, COMMAND_KIND, NOTICE_KIND
from bot.core.caps import Caps, Refusal
from bot.core.job import CAPPED_WORK, Job


class Book(Protocol):
    """The counts the rules read and the insert they make, inside one open transaction."""

    def recent_commands(self, job: Job, since: float) -> int:
        """Command jobs of the job's PR created after `since`, in any state."""
        ...

    def work_counts(
        self, job: Job, kinds: list[str], since: float, enough: tuple[int, int]
    ) -> tuple[int, int]:
        """Jobs of `kinds` with an author on the job's repo created after `since`: (all such
        authors, the job's author), each counted up to `enough` (repo, author): the caps, which
        is all a check needs to know."""
        ...

    def notice_sent(self, job: Job, work: str, since: float) -> bool:
        """Whether the job's author got a notice for `work` on its repo after `since`."""
        ...

    def waiting_review(self, job: Job) -> bool:
        """Whether the job's PR has a review waiting (one a new review would replace)."""
        ...

    def insert(self, job: Job, delivery_id: str | None, now: float) -> int:
        """Store a job (a review coalesces into its PR's waiting one); its id."""
        ...


def check_command_limit(limit: tuple[int, float]) -> None:
    """Refuse a command limit that is not (at least 1 command, a positive window in seconds)."""
    most, window = limit
    if isinstance(most, bool) or not isinstance(most, int) or most < 1 or not window > 0:
        raise ValueError(
            f"command limit must be (max commands >= 1, window seconds > 0), got {limit!r}"
        )


def delivered(
    delivery_id: str, jobs: Iterable[Job], command_limit: tuple[int, float] | None
) -> tuple[list[Job], tuple[str | None, str | None, int | None]]:
    """A delivery's jobs, checked before they are stored (a delivery id, a valid limit), and
    the pull request its review job names, (None, None, None) without one: what both queues
    record with the delivery."""
    if not delivery_id:
        raise ValueError("delivery id is empty")
    if command_limit is not None:
        check_command_limit(command_limit)
    jobs = list(jobs)
    pushed = next((job for job in jobs if job.kind == COALESCING_KIND), None)
    return jobs, (pushed.owner, pushed.repo, pushed.number) if pushed else (None, None, None)


def admit_jobs(
    book: Book,
    jobs: Iterable[Job],
    delivery_id: str,
    now: float,
    *,
    command_limit: tuple[int, float] | None = None,
    caps: Caps | None = None,
) -> Admitted:
    """Store what the rules let through, in order; say what they refused and which notices
    were stored (see bot.adapters.queue for the rules)."""
    admitted = Admitted([], [])
    for job in jobs:
        if command_limit is not None and job.kind == COMMAND_KIND:
            most, window = command_limit
            if book.recent_commands(job, now - window) >= most:
                admitted.refused.append(job)
                continue
        refusal = capped(book, job, caps, now) if caps is not None else None
        if refusal is not None:
            assert caps is not None
            admitted.capped.append(refusal)
            owed = notice(book, job, refusal, now - caps.window_seconds)
            if owed is not None:
                stored = book.insert(owed, delivery_id, now)
                admitted.ids.append(stored)
                admitted.notices.append(stored)
            continue
        admitted.ids.append(book.insert(job, delivery_id, now))
    return admitted


def capped(book: Book, job: Job, caps: Caps, now: float) -> Refusal | None:
    """The cap that refuses `job`, or None: only counted work by an author is capped, and a
    review that replaces its PR's waiting review adds no work."""
    work = CAPPED_WORK.get(job.kind)
    if work is None or job.author is None:
        return None
    if job.kind == COALESCING_KIND and book.waiting_review(job):
        return None
    kinds = sorted(kind for kind, counted in CAPPED_WORK.items() if counted == work)
    per_author, per_repo = caps.limits(work)
    by_repo, by_author = book.work_counts(
        job, kinds, now - caps.window_seconds, (per_repo, per_author)
    )
    return caps.check(work, job.author, f"{job.owner}/{job.repo}", by_author, by_repo)


def notice(book: Book, job: Job, refusal: Refusal, since: float) -> Job | None:
    """The notice job for a refusal, unless the account already got one for this work since
    `since` on this repo (a refused thread reply gets none)."""
    if job.author is None or refusal.work == "reply":
        return None
    if book.notice_sent(job, refusal.work, since):
        return None
    payload: dict[str, Any] = {
        "work": refusal.work,
        "reason": refusal.text(),
        "user": refusal.author,
    }
    comment_id = job.payload.get("comment_id")
    if isinstance(comment_id, int):
        payload["comment_id"] = comment_id
    return Job(
        NOTICE_KIND,
        job.owner,
        job.repo,
        job.number,
        installation_id=job.installation_id,
        head_sha=job.head_sha,
        trigger=refusal.work,
        payload=payload,
        author=job.author,
    )


def duration(seconds: float) -> str:
    """A span in words for an error message: "45 s", "12 min", "2.0 h"."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
