"""Group commit: writes queued together share one transaction; a failing one fails alone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from suanli.controlplane.db import create_engine
from suanli.controlplane.writer import GroupCommitter, WriterClosed


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
