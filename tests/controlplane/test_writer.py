"""Group commit: writes queued together share one transaction; a failing one fails alone, whether
the event loop schedules the groups (`GroupCommitter`) or a thread of the writer's own does."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from suanli.controlplane.db import create_engine
from suanli.controlplane.writer import GroupCommitter, ThreadGroupCommitter, WriterClosed


async def test_concurrent_writes_share_a_transaction_and_failures_are_isolated(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (v INTEGER PRIMARY KEY)"))

    async def write(items: list[int]) -> list[int]:
        async with engine.begin() as connection:
            for item in items:
                if item < 0:
                    raise ValueError("negative")
                await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": item})
        return [item * 10 for item in items]

    writer: GroupCommitter[int, int] = GroupCommitter(write, max_items=100)
    writer.start()
    results = await asyncio.gather(*(writer.submit(i) for i in range(10)))
    assert results == [i * 10 for i in range(10)] and writer.transactions == 1
    mixed = await asyncio.gather(writer.submit(20), writer.submit(-1), writer.submit(21), return_exceptions=True)
    assert mixed[0] == 200 and isinstance(mixed[1], ValueError) and mixed[2] == 210
    await writer.stop()
    with pytest.raises(WriterClosed):
        await writer.submit(30)
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
    assert stored == [*range(10), 20, 21]
    await engine.dispose()


class FirstGroupHeld:
    """A group write that records each group and keeps the first one open until released."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.first_group_open = asyncio.Event()
        self.release_first_group = asyncio.Event()

    async def write(self, items: list[int]) -> list[int]:
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.first_group_open.set()
            await self.release_first_group.wait()
        return [item + 100 for item in items]


async def test_a_second_group_is_written_while_the_first_waits_on_the_database() -> None:
    """With two transactions in flight, what queues while the first group is open forms the next
    group at once; each request still gets its own result, and stop() waits for both groups."""
    held = FirstGroupHeld()
    writer: GroupCommitter[int, int] = GroupCommitter(held.write, max_items=100, max_in_flight=2)
    writer.start()
    first = asyncio.ensure_future(writer.submit(1))
    await held.first_group_open.wait()
    second = await asyncio.wait_for(asyncio.gather(writer.submit(2), writer.submit(3)), timeout=5)
    assert second == [102, 103] and not first.done()  # written while the first group was still open
    third = asyncio.ensure_future(writer.submit(4))
    stopping = asyncio.ensure_future(writer.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # the first group is still open
    held.release_first_group.set()
    await stopping
    assert await first == 101 and await third == 104
    assert held.groups == [[1], [2, 3], [4]] and writer.transactions == 3


async def test_one_transaction_in_flight_holds_the_next_group_back() -> None:
    held = FirstGroupHeld()
    writer: GroupCommitter[int, int] = GroupCommitter(held.write, max_items=100)
    writer.start()
    first = asyncio.ensure_future(writer.submit(1))
    await held.first_group_open.wait()
    rest = asyncio.ensure_future(asyncio.gather(writer.submit(2), writer.submit(3)))
    await asyncio.sleep(0.05)
    assert held.groups == [[1]] and not rest.done()
    held.release_first_group.set()
    assert await first == 101 and await rest == [102, 103]
    assert held.groups == [[1], [2, 3]]
    await writer.stop()


class ThreadFirstGroupHeld:
    """A synchronous group write (run on the writer's thread) that records each group, keeps the
    first open until released, and tells when the second has been written."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.first_group_open = threading.Event()
        self.release_first_group = threading.Event()
        self.second_group_written = threading.Event()

    def write(self, items: list[int]) -> list[int]:
        if any(item < 0 for item in items):
            raise ValueError("negative")
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.first_group_open.set()
            self.release_first_group.wait(5)
        elif len(self.groups) == 2:
            self.second_group_written.set()
        return [item + 100 for item in items]


async def test_a_thread_writer_groups_what_queued_meanwhile_without_the_event_loop() -> None:
    """The writer's thread starts the next group as soon as a commit returns: here the event loop
    is blocked (as by a long parse) from releasing the first group until the second is written,
    and the second still holds everything that queued while the first was open."""
    held = ThreadFirstGroupHeld()
    writer: ThreadGroupCommitter[int, int] = ThreadGroupCommitter(held.write, max_items=100)
    writer.start()
    first = asyncio.ensure_future(writer.submit(1))
    assert await asyncio.to_thread(held.first_group_open.wait, 5)
    rest = [asyncio.ensure_future(writer.submit(i)) for i in (2, 3, 4)]
    await asyncio.sleep(0)  # the submissions run up to their wait: all three are queued
    held.release_first_group.set()
    assert held.second_group_written.wait(5)  # blocks the loop: nothing of the loop's is needed
    assert await first == 101 and await asyncio.gather(*rest) == [102, 103, 104]
    assert held.groups == [[1], [2, 3, 4]] and writer.transactions == 2
    await writer.stop()


async def test_a_thread_writer_isolates_a_failing_item_and_drains_before_it_stops() -> None:
    held = ThreadFirstGroupHeld()
    held.release_first_group.set()
    writer: ThreadGroupCommitter[int, int] = ThreadGroupCommitter(held.write, max_items=2)
    writer.start()
    results = await asyncio.gather(*(writer.submit(i) for i in (1, -1, 2, 3, 4)), return_exceptions=True)
    assert results[0] == 101 and isinstance(results[1], ValueError) and results[2:] == [102, 103, 104]
    assert all(len(group) <= 2 for group in held.groups)  # max_items holds
    queued = [asyncio.ensure_future(writer.submit(i)) for i in (5, 6)]
    await asyncio.sleep(0)
    await writer.stop()
    assert all(future.done() for future in queued) and [f.result() for f in queued] == [105, 106]
    with pytest.raises(WriterClosed):
        await writer.submit(7)
