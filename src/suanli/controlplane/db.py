"""Database URLs and engines: users write sqlite:/// or postgresql://, we open the async drivers."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from suanli.controlplane.threadname import name_this_thread
from suanli.controlplane.writer import GroupCommitter, GroupWriter, Item, Result, ThreadGroupCommitter

try:
    from sqlalchemy.util import await_ as _await_in_greenlet  # SQLAlchemy ≥ 2.1
except ImportError:  # 2.0
    from sqlalchemy.util import await_only as _await_in_greenlet

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_MAX_PARAMETERS = 32_766  # bound parameters in one statement (SQLite ≥ 3.32)
T = TypeVar("T")
log = logging.getLogger(__name__)


class DatabaseUrlError(ValueError):
    """The database URL names a backend suanli does not support."""


def async_url(url: str) -> str:
    """Map a user's URL to its async driver: sqlite → aiosqlite, postgresql → asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://…")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def _on_sqlite_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API objects
    """WAL lets readers run beside the writer; foreign keys are off by default in SQLite."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """An async engine for the user's URL, with SQLite made safe for a concurrent server."""
    if is_sqlite(url):
        path = _sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(async_url(url), pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    return create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


READ_THREADS = 4
# SQLite: how often the WAL is checkpointed into the database file, by a thread of its own, and
# past how many pages (4 KiB each) a round makes sure it starts over (see `WalCheckpointer`).
SQLITE_CHECKPOINT_INTERVAL_S = 1.0
SQLITE_WAL_RESTART_AFTER_PAGES = 4_096


class SyncTransactions:
    """Run a synchronous function in one transaction with a single hop off the event loop.

    SQLite: plain sqlite3 connections on threads of our own, one hand-off per transaction instead
    of several per statement (aiosqlite hops for each call); writes one at a time (SQLite has one
    writer anyway), each group writer on its own thread and `run` on a worker thread, reads on a few.
    PostgreSQL: the async engine's connection from one greenlet.
    """

    def __init__(self, url: str, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync_engine: Engine | None = None
        self._read_engine: Engine | None = None
        self._readers: ThreadPoolExecutor | None = None
        # SQLite's writes take turns on this lock (group writers' threads and `run`), not through
        # SQLite's busy handler, which sleeps in steps of up to 100 ms before trying again.
        self._write_lock = threading.Lock()
        self._checkpointer: WalCheckpointer | None = None
        if is_sqlite(url):
            self._sync_engine = _sqlite_sync_engine(url, "BEGIN IMMEDIATE", pool_size=1, autocheckpoint=False)
            self._read_engine = _sqlite_sync_engine(url, "BEGIN", pool_size=READ_THREADS)
            self._readers = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="suanli-sqlite-reader",
                                               initializer=name_this_thread, initargs=("sqlite-reader",))
            path = _sqlite_path(url)
            if path is not None:
                self._checkpointer = WalCheckpointer(path, SQLITE_CHECKPOINT_INTERVAL_S, SQLITE_WAL_RESTART_AFTER_PAGES)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(connection, *args)` in a write transaction, committed when it returns."""
        if self._sync_engine is None:
            async with self._engine.begin() as connection:
                return await connection.run_sync(function, *args)
        # Rare since the group writers have threads of their own: the default pool suffices.
        return await asyncio.to_thread(self._write, function, args)

    def _write(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        """SQLite: one write transaction on the calling thread, in turn with the other writers."""
        assert self._sync_engine is not None
        with self._write_lock, self._sync_engine.connect() as connection:
            with connection.begin():
                result = function(connection, *args)
            # After the commit, on the same connection: the catch-up needs no second checkout.
            if self._checkpointer is not None and self._checkpointer.catch_up_wanted:
                self._checkpointer.catch_up(connection.connection.dbapi_connection)  # type: ignore[arg-type]
            return result

    def group_writer(
        self, function: Callable[[Connection, list[Item]], list[Result]], max_items: int, max_in_flight: int,
        timer: Callable[[int], AbstractContextManager[Any]], name: str,
    ) -> GroupWriter[Item, Result]:
        """A group committer whose groups each run `function(connection, items)` in one write
        transaction, timed by `timer(len(items))`. SQLite: formed and written on a thread of the
        writer's own (`ThreadGroupCommitter`; one writer, so `max_in_flight` does not apply);
        PostgreSQL: scheduled by the event loop, `max_in_flight` transactions at once."""
        if self._sync_engine is None:
            async def write_async(items: list[Item]) -> list[Result]:
                with timer(len(items)):
                    return await self.run(function, items)

            return GroupCommitter(write_async, max_items, max_in_flight)

        def write(items: list[Item]) -> list[Result]:
            with timer(len(items)):
                return self._write(function, (items,))

        return ThreadGroupCommitter(write, max_items, name)

    async def read(self, function: Callable[..., T], *args: Any) -> T:
        """`function(connection, *args)` on one connection, for a consistent multi-query read."""
        if self._sync_engine is None:
            async with self._engine.connect() as connection:
                return await connection.run_sync(function, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, _in_transaction, self._read_engine, function, args)

    async def close(self) -> None:
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        for engine in (self._sync_engine, self._read_engine):
            if engine is not None:
                engine.dispose()


def _in_transaction(engine: Engine | None, function: Callable[..., T], args: tuple[Any, ...]) -> T:
    assert engine is not None
    with engine.begin() as connection:
        return function(connection, *args)


def _sqlite_sync_engine(url: str, begin: str, pool_size: int, autocheckpoint: bool = True) -> Engine:
    """A sqlite3 engine whose transactions really start at BEGIN: Python's sqlite3 would otherwise
    run a transaction's first SELECTs outside it (before its first write), and a read-then-write
    could act on rows another writer changed meanwhile. The writer begins IMMEDIATE (takes the
    write lock first), readers a deferred BEGIN (one snapshot for all their queries).
    `autocheckpoint=False`: commits never checkpoint the WAL (a `WalCheckpointer` does)."""
    engine = sa_create_engine(
        make_url(url).set(drivername="sqlite"),
        pool_size=pool_size,
        connect_args={"check_same_thread": False},  # pooled; each use stays on one thread
    )

    def on_connect(dbapi_connection, record) -> None:  # noqa: ANN001
        _on_sqlite_connect(dbapi_connection, record)
        if not autocheckpoint:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql(begin))
    return engine


class WalCheckpointer:
    """Checkpoints a SQLite database's WAL every `interval_s` on a thread of its own.

    Why: by default the commit that takes the WAL past 1 000 pages checkpoints it, and on the
    ingest writer that meant copying pages and an fdatasync inside the transaction of whichever
    group came next, on the thread that bounds the ingest rate. PASSIVE never waits for readers or
    the writer: what it cannot copy yet waits for the next round.

    The WAL starts over (is written from its beginning again) only when a write transaction begins
    with every frame copied, which under steady writes never happens by itself: the writer appends
    while the checkpoint copies (measured: 650 MB of WAL in 3 s of back-to-back transactions). So
    once the WAL holds more than `restart_after_pages`, the round asks the writer to `catch_up`
    after its next commit, still holding the write lock: a second pass that copies only what came
    in during the first, and the writer's next transaction starts the WAL over. (The checkpoint
    thread cannot take the write lock itself: a writer with work queued takes it again the moment
    it lets it go.)

    A failed round (the disk full, say) is logged once, and the next tries again, so the WAL cannot
    grow unchecked for want of a retry; a full disk then refuses the writer's next WAL append."""

    def __init__(self, path: Path, interval_s: float,
                 restart_after_pages: int = SQLITE_WAL_RESTART_AFTER_PAGES) -> None:
        self._path = path
        self._interval_s = interval_s
        self._restart_after_pages = restart_after_pages
        self._stopping = threading.Event()
        self.catch_up_wanted = False  # set by a round, cleared by the writer's `catch_up`
        self.checkpoints = 0  # rounds completed
        self.restarts = 0  # catch-ups done by the writer, after which the WAL starts over
        self.failures = 0  # rounds that failed
        self._thread = threading.Thread(target=self._run, name="suanli-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread after one last checkpoint."""
        self._stopping.set()
        self._thread.join()

    def catch_up(self, writer_connection: sqlite3.Connection) -> None:
        """Called by a writer right after its commit, still holding the write lock: copy the rest of
        the WAL so that the next transaction starts it over. Never raises: the commit stands."""
        self.catch_up_wanted = False
        try:
            writer_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.restarts += 1
        except sqlite3.Error as error:  # the next round asks again
            log.debug("WAL catch-up of %s failed: %s", self._path, error)

    def _run(self) -> None:
        name_this_thread("wal-checkpoint")
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        failed_rounds = 0
        try:
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            while True:
                stopping = self._stopping.wait(self._interval_s)
                try:
                    _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as error:
                    self.failures += 1
                    failed_rounds += 1
                    if failed_rounds == 1:  # once, not every round for as long as the disk is full
                        log.warning("WAL checkpoint of %s failed (%s); trying again every %.1f s", self._path,
                                    error, self._interval_s)
                else:
                    self.checkpoints += 1
                    self.catch_up_wanted = frames > self._restart_after_pages
                    if failed_rounds:
                        log.warning("WAL checkpoint of %s succeeded again after %d failed rounds", self._path,
                                    failed_rounds)
                        failed_rounds = 0
                if stopping:
                    return
        finally:
            connection.close()


# The hot statements of ingest on PostgreSQL go to asyncpg itself: SQLAlchemy's work around each
# one (execution context, a bind processor per parameter of every row, result wrapping) cost more
# of the event loop than the statements, and arrays sent through unnest() make one Bind of a
# whole group's rows where an executemany makes one per row.


def _postgres_driver(connection: Connection) -> Any:
    """The asyncpg connection under `connection`, a PostgreSQL transaction run in SQLAlchemy's
    greenlet (`SyncTransactions.run`, `AsyncConnection.run_sync`). SQLAlchemy's adapter sends
    BEGIN lazily, with the first statement it executes itself, and a statement sent around it
    before that would commit on its own: where nothing went through SQLAlchemy yet, a no-op does."""
    driver = connection.connection.driver_connection
    if not driver.is_in_transaction():
        connection.exec_driver_sql("SELECT 1")
        if not driver.is_in_transaction():
            raise RuntimeError("statements sent to asyncpg directly must run inside a transaction")
    return driver


def postgres_fetch(connection: Connection, statement: str, *arguments: Any) -> list[Any]:
    """Rows of `statement` ($1, $2 … placeholders), sent straight to asyncpg (prepared once, cached)."""
    return _await_in_greenlet(_postgres_driver(connection).fetch(statement, *arguments))


def postgres_execute(connection: Connection, statement: str, *arguments: Any) -> str:
    """Run `statement` straight on asyncpg; its status line (e.g. "UPDATE 12")."""
    return _await_in_greenlet(_postgres_driver(connection).execute(statement, *arguments))


def postgres_unnest_arguments(table: Table, columns: Sequence[str]) -> str:
    """`$1, $2 …` for `columns`' values sent as one array each, cast to the columns' types (e.g.
    `CAST($1 AS VARCHAR(64)[])`), for `unnest(…)`."""
    dialect = postgresql.dialect()
    return ", ".join(f"CAST(${position} AS {table.c[name].type.compile(dialect=dialect)}[])"
                     for position, name in enumerate(columns, start=1))
