"""The embedded durable job queue: webhook deliveries and review jobs in a SQLite file.

The webhook handler records each delivery and persists its jobs in one transaction before it answers
202; workers (in `tierbot serve`'s worker process) claim jobs, hold a lease they renew, and
complete or fail them. The file is
the one the ledger uses, so this module owns only its `queue_*` tables and their schema version.

Semantics (the same as the scale-out engine's, procrastinate's `queueing_lock` and `lock`):

- a delivery id (`X-GitHub-Delivery`) is accepted once; a redelivery enqueues nothing; a
  delivery that asks for a review records its pull request, so that `pushed_since` can tell a
  command whether the pull request's head may have moved after it was given;
- a new "review" job replaces the PR's waiting one in place (latest head wins, the PR keeps its
  place in line); other kinds, such as commands, never coalesce;
- with a command limit (max, window), `admit` stores a PR's "command" job only while fewer than
  max command jobs of that PR were created in the last window seconds (whatever became of them);
  one over is refused, not stored, counted in the same transaction as the insert, so concurrent
  deliveries cannot overshoot; refused commands do not count, so a flood does not extend its own
  lockout;
- with caps (bot.core.caps), a job that carries an `author` (an account without write access by its
  association) is refused, not stored, when that account, or all such accounts on the repo,
  already had the cap's number of jobs of its work (reviews, commands, thread replies) created
  in the last window, counted in the same transaction as the insert; a review that replaces its
  PR's waiting review adds no work and is not refused; refused work does not count. In its place
  the first refused review or command of an account in a window stores a "notice" job, which
  tells the pull request why (one per account, work and window, so a flood is not answered with
  a flood; a refused thread reply gets none);
- at most one job per PR (owner, repo, number) runs at a time;
- a running job whose lease ran out (its worker died or hung) is taken up again by the next claim,
  and the old worker can no longer renew, complete or fail it;
- a retryable failure waits about 10 s, 40 s, 160 s, ... (at most 15 minutes, with jitter, and
  never before the time the service said to come back) until `give_up_seconds` have passed since
  the job's first failure; then it ends "failed" with its error, as does a job claimed
  `max_attempts` times (one that keeps losing its worker).

Thread safety: every method may be called from any thread (callers use `asyncio.to_thread`). Each
call borrows a connection from a small pool, used by one thread at a time; every write runs in a
`BEGIN IMMEDIATE` transaction, so SQLite serialises writers across threads and processes, and
`busy_timeout` makes a contender wait instead of failing. Journal mode is WAL: readers never block
the writer, and a commit survives the process being killed (`synchronous=NORMAL` skips the fsync
per commit, so the last commits can be lost on power failure only:
https://www.sqlite.org/pragma.html#pragma_synchronous).
"""

from bot.adapters.queue.rows import Admitted, HeldDelivery, LeaseLostError, QueuedJob
from bot.adapters.queue.rules import check_command_limit
from bot.adapters.queue.schema import (
    COALESCING_KIND,
    COMMAND_KIND,
    DONE,
    FAILED,
    MAX_PAYLOAD_BYTES,
    NOTICE_KIND,
    RUNNING,
    SCHEMA_VERSION,
    STATES,
    WAITING,
)
from bot.adapters.queue.store import JobQueue

__all__ = [
    "COALESCING_KIND",
    "COMMAND_KIND",
    "DONE",
    "FAILED",
    "MAX_PAYLOAD_BYTES",
    "NOTICE_KIND",
    "RUNNING",
    "SCHEMA_VERSION",
    "STATES",
    "WAITING",
    "Admitted",
    "HeldDelivery",
    "JobQueue",
    "LeaseLostError",
    "QueuedJob",
    "check_command_limit",
]
