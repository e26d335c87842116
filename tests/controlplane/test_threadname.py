"""The control plane's own threads carry kernel-visible names (top -H, ps -L, /proc), so an
operator or a benchmark can tell the ingest writer from the checkpointer and the readers."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from suanli.controlplane import threadname
from suanli.controlplane.db import SyncTransactions, WalCheckpointer, create_engine
from suanli.controlplane.threadname import name_this_thread
from suanli.controlplane.writer import ThreadGroupCommitter

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread names live in Linux's /proc")


def _kernel_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


def _named_in_thread(name: str) -> str:
    seen: list[str] = []

    def run() -> None:
        name_this_thread(name)
        seen.append(_kernel_name(threading.get_native_id()))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen[0]


def test_a_thread_takes_the_name_cut_to_the_kernels_fifteen_bytes() -> None:
    assert _named_in_thread("report-writer") == "report-writer"
    assert _named_in_thread("a-name-longer-than-fifteen") == "a-name-longer-t"


def test_where_proc_cannot_be_written_the_thread_keeps_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    native_id = threading.get_native_id()
    before = _kernel_name(native_id)
    monkeypatch.setattr(threadname.threading, "get_native_id", lambda: 2**31 - 1)  # no such task
    name_this_thread("anything")  # must not raise
    assert _kernel_name(native_id) == before


async def test_the_ingest_writer_and_the_checkpointer_are_named(tmp_path: Path) -> None:
    writer: ThreadGroupCommitter[int, int] = ThreadGroupCommitter(lambda items: items, name="suanli-report-writer")
    writer.start()
    try:
        assert await writer.submit(1) == 1  # the thread has run its first group, so it has named itself
        assert writer._thread is not None and _kernel_name(writer._thread.native_id) == "report-writer"
    finally:
        await writer.stop()

    path = tmp_path / "named.db"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.close()
    checkpointer = WalCheckpointer(path, interval_s=0.01)
    try:
        for _ in range(200):
            if checkpointer.checkpoints:
                break
            time.sleep(0.01)
        assert _kernel_name(checkpointer._thread.native_id) == "wal-checkpoint"
    finally:
        checkpointer.stop()


async def test_sqlite_readers_are_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'readers.db'}"
    engine = create_engine(url)
    transactions = SyncTransactions(url, engine)
    try:
        native_id = await transactions.read(lambda _connection: threading.get_native_id())
        assert _kernel_name(native_id) == "sqlite-reader"
    finally:
        await transactions.close()
        await engine.dispose()
