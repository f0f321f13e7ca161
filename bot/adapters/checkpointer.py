"""Background checkpoints of a SQLite file in WAL mode, so that no webhook pays for one.

In WAL mode a commit appends to the write-ahead log, and the commit that takes the log past
SQLite's threshold (1,000 pages by default) then copies the log back into the database file and
syncs it, before its own call returns
(https://www.sqlite.org/wal.html#automatic_checkpoint). On the server that commit is most often
a webhook's `admit` (deliveries are most of the writes), so every few hundred deliveries one
answer waited for a checkpoint: in the webhook benchmark at 200 deliveries a second with the
workers busy, `admit` took 0.3 ms at the median and up to 180 ms at the worst.

`Checkpointer` runs a PASSIVE checkpoint every `every` seconds on a connection of its own, in a
thread: it copies what it can without waiting for readers or writers, and writers go on
appending meanwhile (https://www.sqlite.org/pragma.html#pragma_wal_checkpoint). The log stays
short, so a commit rarely crosses the threshold, and when one does there is little left to copy.
SQLite's own checkpoints stay on: this only takes their work off the commits. Nothing about what
is stored changes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("tierbot.checkpointer")

CHECKPOINT_SECONDS = 0.5
"""How often the server checkpoints its SQLite file."""
BUSY_TIMEOUT_SECONDS = 10.0


class Checkpointer:
    """Checkpoints the SQLite file at `path` every `every` seconds while `run()` runs (cancel it
    to stop). A failed checkpoint is logged once, as is the next one that works again; the loop
    goes on either way, since the commits still checkpoint on their own."""

    def __init__(
        self,
        path: str,
        *,
        every: float = CHECKPOINT_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if every <= 0:
            raise ValueError(f"checkpoint interval must be positive, got {every!r}")
        self._path = path
        self._every = every
        self._sleep = sleep
        self.checkpoints = 0
        """PASSIVE checkpoints run (whether or not they had anything to copy)."""

    async def run(self) -> None:
        conn = await asyncio.to_thread(self._connect)
        failing = False
        # The checkpoint in flight, if any. Cancelling `run` does not stop the thread running it,
        # and closing the connection under a running SQLite call crashes the process: the close
        # waits for it.
        pending: asyncio.Future[None] | None = None
        try:
            while True:
                await self._sleep(self._every)
                pending = asyncio.ensure_future(asyncio.to_thread(self._checkpoint, conn))
                try:
                    await asyncio.shield(pending)
                except sqlite3.Error as exc:
                    if not failing:
                        log.warning("the SQLite checkpoint failed", path=self._path, error=str(exc))
                    failing = True
                    continue
                if failing:
                    log.info("the SQLite checkpoint works again", path=self._path)
                failing = False
        finally:
            if pending is not None and not pending.done():
                await asyncio.wait({pending})
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self._path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,  # used by one thread at a time, from to_thread
        )

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.checkpoints += 1
