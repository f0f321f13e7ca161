"""The background checkpoint moves a WAL file's committed pages into the database file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.adapters.checkpointer import Checkpointer


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")  # only the checkpointer copies pages back
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(200)])
    return conn


def test_checkpoints_copy_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    writer = _writer(path)
    before = path.stat().st_size
    checkpointer = Checkpointer(str(path), every=0.01)

    async def run_a_while() -> None:
        task = asyncio.create_task(checkpointer.run())
        while checkpointer.checkpoints < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_a_while())
    assert path.stat().st_size > before + 150_000  # the 200 KB of rows left the log
    assert writer.execute("SELECT count(*) FROM t").fetchone()[0] == 200
    writer.close()


def test_a_failing_checkpoint_is_logged_once_and_the_loop_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    path.write_bytes(b"not a database" * 100)
    sleeps = 0

    async def counting_sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps > 3:
            raise asyncio.CancelledError
        await asyncio.sleep(0)

    checkpointer = Checkpointer(str(path), every=0.01, sleep=counting_sleep)
    with capture_logs() as logs, pytest.raises(asyncio.CancelledError):
        asyncio.run(checkpointer.run())
    assert sleeps == 4  # three failed checkpoints did not stop it
    failed = [e for e in logs if e["event"] == "the SQLite checkpoint failed"]
    assert len(failed) == 1
    assert failed[0]["log_level"] == "warning"
    assert "not a database" in failed[0]["error"]


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Checkpointer("x.sqlite3", every=0)


def test_stopping_waits_for_the_checkpoint_in_flight_before_closing_its_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelling `run` while a checkpoint runs in its thread must not close the connection
    under it (SQLite crashes the process when it is)."""
    path = tmp_path / "q.sqlite3"
    _writer(path).close()
    started = threading.Event()
    errors: list[BaseException] = []
    checkpointer = Checkpointer(str(path), every=0.001)
    real = checkpointer._checkpoint

    def slow_checkpoint(conn: sqlite3.Connection) -> None:
        started.set()
        time.sleep(0.2)
        try:
            real(conn)  # on a closed connection this raises (or worse)
        except BaseException as exc:
            errors.append(exc)
            raise

    monkeypatch.setattr(checkpointer, "_checkpoint", slow_checkpoint)

    async def cancel_mid_checkpoint() -> None:
        task = asyncio.create_task(checkpointer.run())
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_mid_checkpoint())
    assert errors == []
    assert checkpointer.checkpoints == 1
