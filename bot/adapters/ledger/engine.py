"""The ledger's database connection: its URL, and SQLite set up for concurrent writers.

On SQLite the journal is WAL (readers never block the writer), a busy timeout makes a writer wait
its turn, and every write transaction starts with BEGIN IMMEDIATE, so concurrent writers queue
instead of failing on a lock upgrade.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.adapters.sqlite_begin import begin_immediate

BUSY_TIMEOUT_SECONDS = 30


def ledger_url(url: str) -> sa.URL:
    """The SQLAlchemy URL of `url`: a bare path is a SQLite file; PostgreSQL uses psycopg 3."""
    parsed = sa.make_url(url if "://" in url else f"sqlite:///{url}")
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"the ledger needs a sqlite:/// or postgresql:// URL, got {parsed!r}")
    return parsed


def engine_for(url: sa.URL) -> Engine:
    """An engine for `url`; on SQLite, with the pragmas and BEGIN of the module docstring."""
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not begin transactions itself, or DDL would run outside them and a write
    # could not take the lock up front; `_sqlite_begin` emits BEGIN instead. See
    # https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
    _wal(cursor)
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _wal(cursor: Any) -> None:
    """Put the file in WAL mode once. The switch needs the file to itself and SQLite answers
    "locked" at once, without its busy wait, while another connection (another process
    starting up) holds it, so it is tried again for a few seconds. WAL then stays on the file."""
    if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
        return
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_begin(conn: Connection) -> None:
    if conn.get_execution_options().get("ledger_write", False):
        begin_immediate(conn.connection.dbapi_connection, BUSY_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    else:
        conn.exec_driver_sql("BEGIN")
