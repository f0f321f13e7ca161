"""Taking SQLite's write lock with short waits, where processes share one file.

`BEGIN IMMEDIATE` takes the write lock up front; when another connection holds it, SQLite's own
busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ... up to 100 ms between tries
(https://www.sqlite.org/c3ref/busy_timeout.html, `sqliteDefaultBusyCallback`), so a writer that
finds the lock held for half a millisecond may sleep 8 ms, and one that meets a few holders in a
row sleeps for tens. With the webhook and the workers in two processes on one file, that put a
delivery's answer 400 ms late at the 99th percentile (bench/webhook.py). Python's sqlite3 has no
way to install another busy handler, so `begin_immediate` turns SQLite's wait off for the
`BEGIN` and tries again itself, starting at 50 microseconds and doubling to 2 ms, until
`timeout`. Once the lock is held, nothing else in a write transaction waits on it (in WAL mode
readers never block a writer, and the commit needs no other lock).
"""

from __future__ import annotations

import sqlite3
import time

_FIRST_WAIT = 0.00005
_LONGEST_WAIT = 0.002


def begin_immediate(conn: sqlite3.Connection, timeout: float) -> None:
    """Start a write transaction on `conn`, waiting for the write lock up to `timeout` seconds;
    sqlite3.OperationalError ("database is locked") when it is still held then. The
    connection's own busy timeout is kept for its other statements."""
    deadline = time.monotonic() + timeout
    wait = _FIRST_WAIT
    kept = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() + wait > deadline:
                    raise
            time.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {kept}")


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_BUSY)
    return "locked" in str(exc) or "busy" in str(exc)
