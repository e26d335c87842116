"""Database URLs and engines: users write sqlite:/// or postgresql://, we open the async drivers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
T = TypeVar("T")


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


class SyncTransactions:
    """Run a synchronous function in one transaction with a single hop off the event loop.

    SQLite: plain sqlite3 connections on threads of our own, one hand-off per transaction instead
    of several per statement (aiosqlite hops for each call); writes on one thread (SQLite has one
    writer anyway), reads on a few. PostgreSQL: the async engine's connection from one greenlet.
    """

    def __init__(self, url: str, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync_engine: Engine | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._readers: ThreadPoolExecutor | None = None
        if is_sqlite(url):
            self._sync_engine = sa_create_engine(
                make_url(url).set(drivername="sqlite"),
                pool_size=READ_THREADS + 1,
                connect_args={"check_same_thread": False},  # pooled; each use stays on one thread
            )
            event.listen(self._sync_engine, "connect", _on_sqlite_connect)
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="suanli-sqlite-writer")
            self._readers = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="suanli-sqlite-reader")

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(connection, *args)` in a write transaction, committed when it returns."""
        if self._sync_engine is None:
            async with self._engine.begin() as connection:
                return await connection.run_sync(function, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, self._in_transaction, function, args)

    async def read(self, function: Callable[..., T], *args: Any) -> T:
        """`function(connection, *args)` on one connection, for a consistent multi-query read."""
        if self._sync_engine is None:
            async with self._engine.connect() as connection:
                return await connection.run_sync(function, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._in_transaction, function, args)

    def _in_transaction(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as connection:
            return function(connection, *args)

    async def close(self) -> None:
        for executor in (self._writer, self._readers):
            if executor is not None:
                executor.shutdown(wait=True)
        if self._sync_engine is not None:
            self._sync_engine.dispose()
