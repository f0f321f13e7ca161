"""The queue's SQLite file: a small pool of connections, each used by one thread at a time,
write transactions that take the write lock at once, and the schema's migrations."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.adapters.queue.schema import _MIGRATIONS, SCHEMA_VERSION
from bot.adapters.sqlite_begin import begin_immediate


class Pool:
    """Connections to one SQLite file in WAL mode, its `queue_*` tables migrated on opening.
    `busy_timeout` is how long a writer waits for another (seconds)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 10.0) -> None:
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ValueError(f"the queue needs a database file path, got {str(path)!r}")
        self._path = str(path)
        self._busy_timeout = busy_timeout
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._migrate()

    def close(self) -> None:
        """Close the pooled connections; a call in flight closes its own when it ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _migrate(self) -> None:
        """Create or upgrade this module's tables; refuse a file written by a newer version."""
        with self._connection() as conn:
            # Switching to WAL needs the file to itself, and SQLite answers "locked" at once,
            # without its busy wait, while another process is starting up on it: try again.
            deadline = time.monotonic() + 10
            while str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                try:
                    conn.execute("PRAGMA journal_mode = WAL")
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        with self._transaction() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS queue_schema (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM queue_schema").fetchone()
            current = 0 if row is None else int(row[0])
            if current > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self._path}: queue schema version {current} is newer than this "
                    f"tierbot's ({SCHEMA_VERSION}); upgrade tierbot"
                )
            for statements in _MIGRATIONS[current:]:
                for statement in statements:
                    conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO queue_schema VALUES (?)", (SCHEMA_VERSION,))
            else:
                conn.execute("UPDATE queue_schema SET version = ?", (SCHEMA_VERSION,))

    def _connect(self) -> sqlite3.Connection:
        # Autocommit mode (isolation_level=None): transactions are only the explicit ones below.
        # check_same_thread=False: the pool hands a connection to one thread at a time.
        conn = sqlite3.connect(
            self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job queue is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._connect()
        try:
            yield conn
        finally:
            with self._lock:
                closed = self._closed
                if not closed:
                    self._idle.append(conn)
            if closed:
                conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock at once (no deadlock on lock upgrade)."""
        with self._connection() as conn:
            begin_immediate(conn, self._busy_timeout)
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
