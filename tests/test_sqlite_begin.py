"""`begin_immediate`: a writer waits for another's write lock in its own short steps, gives up
after its timeout with SQLite's own error, and leaves the connection's busy timeout as it was."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bot.adapters.sqlite_begin import begin_immediate


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=7.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def test_a_writer_gets_the_lock_once_the_holder_commits(tmp_path: Path) -> None:
    holder, writer = connect(tmp_path / "q.db"), connect(tmp_path / "q.db")
    holder.execute("CREATE TABLE t (v INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.05, holder.commit)
    release.start()
    begin_immediate(writer, timeout=5.0)
    writer.execute("INSERT INTO t VALUES (2)")
    writer.commit()
    release.join()
    assert [row[0] for row in holder.execute("SELECT v FROM t ORDER BY v")] == [1, 2]
    assert writer.execute("PRAGMA busy_timeout").fetchone()[0] == 7000  # its own, kept


def test_a_lock_held_past_the_timeout_is_sqlites_locked_error(tmp_path: Path) -> None:
    holder, writer = connect(tmp_path / "q.db"), connect(tmp_path / "q.db")
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(writer, timeout=0.05)
    assert not writer.in_transaction
    holder.rollback()
    begin_immediate(writer, timeout=0.05)  # free now: taken at once
    assert writer.in_transaction


def test_other_errors_are_not_waited_on(tmp_path: Path) -> None:
    writer = connect(tmp_path / "q.db")
    writer.execute("BEGIN")
    with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
        begin_immediate(writer, timeout=5.0)
