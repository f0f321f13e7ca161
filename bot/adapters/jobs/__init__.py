"""The job queue on PostgreSQL (TIERBOT_DATABASE_URL=postgresql://...), on procrastinate.

Web replicas record each delivery once (`tierbot_deliveries`, keyed by its id) and admit its jobs
by the SQLite queue's rules (bot.adapters.queue.rules) in the same transaction, deferring them as
procrastinate jobs; `tierbot worker` processes run them (bot.faces.app.workers_pg). See
bot.adapters.jobs.book for the queues and locks, bot.adapters.jobs.schema for `tierbot migrate`.
"""

from bot.adapters.jobs.book import TASK, args_job, queue_for
from bot.adapters.jobs.schema import connect_url, migrate, missing_tables
from bot.adapters.jobs.store import PgQueue
from bot.core.job import QUEUES

__all__ = [
    "QUEUES",
    "TASK",
    "PgQueue",
    "args_job",
    "connect_url",
    "migrate",
    "missing_tables",
    "queue_for",
]
