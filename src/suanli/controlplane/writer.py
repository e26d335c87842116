"""Group commit: concurrent requests' batches are written by one task in shared transactions."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from suanli.controlplane.threadname import name_this_thread

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
# Writes a whole group in one transaction and returns one result per item, in order.
GroupWrite = Callable[[list[Item]], Awaitable[list[Result]]]
SyncGroupWrite = Callable[[list[Item]], list[Result]]


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    future: asyncio.Future[Result]


class WriterClosed(RuntimeError):
    """The writer was stopped; no more writes are taken."""


class GroupWriter(Protocol[Item, Result]):
    """What handlers and the app see of a group committer, whichever runs the groups."""

    transactions: int

    def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def submit(self, item: Item) -> Result: ...


class GroupCommitter(Generic[Item, Result]):
    """Each request awaits its own result; whatever queued meanwhile shares the next transaction.

    A failing group is retried one item per transaction, so one bad batch fails alone.
    """

    def __init__(self, write_group: GroupWrite, max_items: int = 256, max_in_flight: int = 1) -> None:
        """`max_in_flight`: transactions open at once. More than one suits a store that takes
        concurrent writers (PostgreSQL): while one group waits on the database, the next is
        written, so the event loop is not left idle between round trips."""
        self._write_group = write_group
        self._max_items = max_items
        self._max_in_flight = max_in_flight
        self._queue: asyncio.Queue[_Pending[Item, Result] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  # how many commits so far (a measure of how well writes group)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="suanli-group-commit")

    async def stop(self) -> None:
        """Finish what is queued, then end the writer task."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None

    async def submit(self, item: Item) -> Result:
        if self._task is None or self._task.done():
            raise WriterClosed("the writer is not running")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(item, future))
        return await future

    async def _run(self) -> None:
        free = asyncio.Semaphore(self._max_in_flight)
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                # A transaction slot first, then the group: a group takes everything that queued
                # while all slots were busy, so groups stay as large as the load allows.
                await free.acquire()
                first = await self._queue.get()
                if first is None:
                    return
                group, stopping = _take_group(first, self._queue.get_nowait, asyncio.QueueEmpty, self._max_items)
                task = asyncio.create_task(self._commit_group(group))
                in_flight.add(task)
                task.add_done_callback(lambda done: (in_flight.discard(done), free.release()))
                if stopping:
                    return
        finally:
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _commit_group(self, group: list[_Pending[Item, Result]]) -> None:
        try:
            results = await self._write_group([p.item for p in group])
            self.transactions += 1
        except Exception as exc:
            if len(group) == 1:
                _settle_error(group[0], exc)
                return
            log.warning("group of %d writes failed (%r); retrying one by one", len(group), exc)
            for pending in group:
                await self._commit_group([pending])
            return
        _settle_results(group, results)


def _take_group(
    first: _Pending[Item, Result], take_next: Callable[[], _Pending[Item, Result] | None],
    empty: type[Exception], max_items: int,
) -> tuple[list[_Pending[Item, Result]], bool]:
    """`first` and whatever else is queued already, up to `max_items`; True where the stop
    sentinel (None) was met, after which nothing more is taken."""
    group = [first]
    while len(group) < max_items:
        try:
            pending = take_next()
        except empty:
            break
        if pending is None:
            return group, True
        group.append(pending)
    return group, False


def _settle_error(pending: _Pending, exc: Exception) -> None:
    if not pending.future.done():
        pending.future.set_exception(exc)


class ThreadGroupCommitter(Generic[Item, Result]):
    """Group commit whose groups are formed and written by a thread of its own, for a store
    written from a thread (SQLite).

    The event loop only hands items over and takes results back; it never schedules a group. Why:
    with the loop scheduling each group (`GroupCommitter` over a thread pool), every group waited
    three times for a busy loop (to start on the thread, to hand results back, to form the next
    group), each hop queued behind the parse of every request ready meanwhile, and the writer
    thread sat idle more than half the time (bench/RESULTS.md). Here the thread starts the next
    group as soon as a commit returns, with whatever queued meanwhile.

    A failing group is retried one item per transaction, so one bad batch fails alone.
    """

    def __init__(self, write_group: SyncGroupWrite, max_items: int = 256, name: str = "suanli-group-commit") -> None:
        self._write_group = write_group
        self._max_items = max_items
        self._name = name
        self._queue: queue.SimpleQueue[_Pending[Item, Result] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.transactions = 0  # how many commits so far (a measure of how well writes group)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Finish what is queued, then end the writer thread."""
        if self._thread is None:
            return
        thread, self._thread = self._thread, None
        self._queue.put(None)
        await asyncio.to_thread(thread.join)

    async def submit(self, item: Item) -> Result:
        if self._thread is None or not self._thread.is_alive():
            raise WriterClosed("the writer is not running")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put(_Pending(item, future))
        return await future

    def _run(self) -> None:
        name_this_thread(self._name.removeprefix("suanli-"))  # e.g. "report-writer" in top -H
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stopping = _take_group(first, self._queue.get_nowait, queue.Empty, self._max_items)
            self._commit_group(group)
            if stopping:
                return

    def _commit_group(self, group: list[_Pending[Item, Result]]) -> None:
        assert self._loop is not None
        try:
            results = self._write_group([p.item for p in group])
            self.transactions += 1
        except Exception as exc:
            if len(group) == 1:
                self._loop.call_soon_threadsafe(_settle_error, group[0], exc)
                return
            log.warning("group of %d writes failed (%r); retrying one by one", len(group), exc)
            for pending in group:
                self._commit_group([pending])
            return
        # One hand-back a group, not one per item: each costs the busy loop a wake-up.
        self._loop.call_soon_threadsafe(_settle_results, group, results)


def _settle_results(group: list[_Pending[Item, Result]], results: list[Result]) -> None:
    for pending, result in zip(group, results):
        if not pending.future.done():  # else the request went away meanwhile
            pending.future.set_result(result)
