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
