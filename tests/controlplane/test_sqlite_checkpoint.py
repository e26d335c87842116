"""SQLite's WAL is checkpointed by a thread of its own, not by the ingest writer's commits."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection

from suanli.controlplane import db
from suanli.controlplane.db import SyncTransactions, WalCheckpointer, create_engine

PAGE_BYTES = 4096
ROWS_PER_TRANSACTION = 100  # about one page each: 100 pages a commit
TRANSACTIONS = 15  # 1 500 pages in all, past SQLite's 1 000-page automatic checkpoint


def _fill(connection: Connection, start: int, rows: int = ROWS_PER_TRANSACTION) -> None:
    connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, blob BLOB)")
    for row in range(start, start + rows):
        connection.exec_driver_sql("INSERT INTO filler VALUES (?, randomblob(?))", (row, PAGE_BYTES - 200))


def _wal_frames(path: Path) -> int:
    """Frames in the WAL now (a passive checkpoint reports them and copies what it can)."""
    connection = sqlite3.connect(path)
    try:
        _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames
    finally:
        connection.close()


async def test_writer_commits_leave_the_wal_to_the_checkpointer_which_copies_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_CHECKPOINT_INTERVAL_S", 3600.0)  # the server's own: not within this test
    path = tmp_path / "wal.db"
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    writes = SyncTransactions(url, engine)
    try:
        for transaction in range(TRANSACTIONS):
            await writes.run(_fill, transaction * ROWS_PER_TRANSACTION)
        # No commit checkpointed: the database file is still near empty and the WAL holds it all
        # (a commit past 1 000 pages would have copied the WAL, and the next one started it over).
        assert path.stat().st_size < 50 * PAGE_BYTES
        checkpointer = WalCheckpointer(path, interval_s=0.05)
        try:
            for _ in range(200):
                if checkpointer.checkpoints >= 1:
                    break
                await asyncio.sleep(0.05)
        finally:
            checkpointer.stop()
        assert checkpointer.checkpoints >= 1
        assert path.stat().st_size >= TRANSACTIONS * ROWS_PER_TRANSACTION * PAGE_BYTES
        assert _wal_frames(path) >= TRANSACTIONS * ROWS_PER_TRANSACTION  # one WAL, never started over
    finally:
        await writes.close()
        await engine.dispose()


def test_a_failed_checkpoint_is_tried_again_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A round that fails (here: not a database) is logged once, and the thread keeps going."""
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"this is not SQLite" * 300)
    with caplog.at_level(logging.WARNING, logger="suanli.controlplane.db"):
        checkpointer = WalCheckpointer(path, interval_s=0.01)
        try:
            for _ in range(300):
                if checkpointer.failures >= 3:
                    break
                time.sleep(0.01)
        finally:
            checkpointer.stop()
    assert checkpointer.failures >= 3 and checkpointer.checkpoints == 0
    assert [r.getMessage() for r in caplog.records].count(
        f"WAL checkpoint of {path} failed (file is not a database); trying again every 0.0 s") == 1


async def test_the_wal_starts_over_under_back_to_back_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A passive checkpoint copies the WAL while the writer appends to it, so by itself the WAL
    never starts over under steady writes (without the catch-up it took all 7.5 MB written here);
    the writer's catch-up after a commit makes it."""
    monkeypatch.setattr(db, "SQLITE_CHECKPOINT_INTERVAL_S", 0.01)
    monkeypatch.setattr(db, "SQLITE_WAL_RESTART_AFTER_PAGES", 100)
    path = tmp_path / "steady.db"
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    writes = SyncTransactions(url, engine)
    wal = path.with_name(path.name + "-wal")
    largest_wal_bytes = 0
    transactions = TRANSACTIONS * 10
    try:
        for transaction in range(transactions):  # one after another, 1 500 pages in all
            await writes.run(_fill, transaction * ROWS_PER_TRANSACTION, ROWS_PER_TRANSACTION // 10)
            largest_wal_bytes = max(largest_wal_bytes, wal.stat().st_size)
        restarts = writes._checkpointer.restarts  # type: ignore[union-attr]
    finally:
        await writes.close()
        await engine.dispose()
    assert restarts >= 1
    assert largest_wal_bytes < transactions * ROWS_PER_TRANSACTION // 10 * PAGE_BYTES / 3
