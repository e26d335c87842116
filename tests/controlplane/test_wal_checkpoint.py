"""The ingest writer never checkpoints inside its commits; a thread of its own copies the WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from suanli.controlplane import db

PAGE_BYTES = 4096  # SQLite's default page size


def _wal_frames_left(path: Path) -> int:
    """Frames in the WAL not yet copied into the database file (a PASSIVE checkpoint's answer)."""
    connection = sqlite3.connect(path)
    try:
        _busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames - copied
    finally:
        connection.close()


def _write_rows(connection, rows: int) -> int:  # noqa: ANN001 - a SQLAlchemy Connection
    connection.execute(text("CREATE TABLE IF NOT EXISTS t (v TEXT)"))
    connection.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x" * 4000} for _ in range(rows)])
    autocheckpoint = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    return autocheckpoint


def test_writer_commits_leave_the_wal_to_the_checkpoint_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wal.db"
    monkeypatch.setattr(db, "WAL_CHECKPOINT_INTERVAL_S", 3600.0)  # only the last pass, at close

    async def scenario() -> tuple[int, int]:
        url = f"sqlite:///{path}"
        transactions = db.SyncTransactions(url, db.create_engine(url))
        # 1 500 pages of 4 KiB: past SQLite's automatic 1 000-page checkpoint, had it been on.
        autocheckpoint = await transactions.run(_write_rows, 1_500)
        # Until a checkpoint copies them, the table's pages are in the WAL, not the database file.
        size_before_close = path.stat().st_size
        await transactions.close()
        return autocheckpoint, size_before_close

    autocheckpoint, size_before_close = asyncio.run(scenario())
    assert autocheckpoint == 0
    assert size_before_close < 100 * PAGE_BYTES
    assert path.stat().st_size >= 1_500 * PAGE_BYTES  # the thread's last pass copied the rows
    assert _wal_frames_left(path) == 0
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM t").fetchone() == (1_500,)


def test_checkpoint_thread_copies_the_wal_while_the_writer_keeps_it_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wal.db"
    monkeypatch.setattr(db, "WAL_CHECKPOINT_INTERVAL_S", 0.05)

    async def scenario() -> int:
        url = f"sqlite:///{path}"
        transactions = db.SyncTransactions(url, db.create_engine(url))
        await transactions.run(_write_rows, 200)
        checkpointer = transactions._checkpointer
        assert checkpointer is not None
        passes = checkpointer.checkpoints
        for _ in range(200):  # wait for at least two passes after the write
            if checkpointer.checkpoints >= passes + 2:
                break
            await asyncio.sleep(0.05)
        left = await asyncio.to_thread(_wal_frames_left, path)
        await transactions.close()
        return left

    assert asyncio.run(scenario()) == 0
