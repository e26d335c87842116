"""Usage history: reading a node's points, and keeping the table bounded (retention, downsampling)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.store.tables import nodes, usage_history


async def usage_points(
    engine: AsyncEngine, node_id: str, after_seq: int, limit: int,
    since: datetime | None = None, until: datetime | None = None,
) -> list[Any]:
    """Points oldest first after `after_seq`, optionally within [since, until)."""
    query = select(usage_history.c.seq, usage_history.c.sent_at, usage_history.c.downsampled, usage_history.c.body)
    query = query.where(usage_history.c.node_id == node_id, usage_history.c.seq > after_seq)
    if since is not None:
        query = query.where(usage_history.c.sent_at >= since)
    if until is not None:
        query = query.where(usage_history.c.sent_at < until)
    async with engine.connect() as connection:
        return list((await connection.execute(query.order_by(usage_history.c.seq).limit(limit))).all())


@dataclass(frozen=True)
class CompactionResult:
    expired: int
    downsampled_away: int


async def compact_usage(
    engine: AsyncEngine, now: datetime, retention: timedelta, full_resolution: timedelta, interval_s: int
) -> CompactionResult:
    """Drop points older than `retention`; between that and `full_resolution` keep one per interval.

    The first point of each (node, interval) survives and is marked downsampled; each node's
    `compacted_seq` rises to the highest seq deleted, so a late redelivery of it is a duplicate.
    """
    expire_before = now - retention
    thin_before = now - full_resolution
    async with engine.begin() as connection:
        await _raise_compacted_seq(connection, usage_history.c.sent_at < expire_before)
        expired = await connection.execute(delete(usage_history).where(usage_history.c.sent_at < expire_before))
        bucket = func.floor(_epoch_s(connection, usage_history.c.sent_at) / interval_s)
        window = and_(usage_history.c.sent_at < thin_before, usage_history.c.downsampled.is_(False))
        keep = (
            select(func.min(usage_history.c.seq).label("seq"), usage_history.c.node_id)
            .where(window).group_by(usage_history.c.node_id, bucket)
        ).subquery()
        kept = select(keep.c.seq).where(keep.c.node_id == usage_history.c.node_id)
        doomed = and_(window, usage_history.c.seq.not_in(kept.scalar_subquery()))
        await _raise_compacted_seq(connection, doomed)
        thinned = await connection.execute(delete(usage_history).where(doomed))
        await connection.execute(update(usage_history).where(window).values(downsampled=True))
    return CompactionResult(expired.rowcount or 0, thinned.rowcount or 0)


def _epoch_s(connection: Any, column: Any) -> Any:
    if connection.dialect.name == "postgresql":
        return func.extract("epoch", column)
    return func.strftime("%s", column).cast(Integer)


async def _raise_compacted_seq(connection: Any, doomed: Any) -> None:
    highest = (
        select(func.max(usage_history.c.seq)).where(doomed, usage_history.c.node_id == nodes.c.id).scalar_subquery()
    )
    await connection.execute(
        update(nodes).values(compacted_seq=func.coalesce(func.max(nodes.c.compacted_seq, highest), nodes.c.compacted_seq))
        if connection.dialect.name == "sqlite"
        else update(nodes).values(compacted_seq=func.greatest(nodes.c.compacted_seq, func.coalesce(highest, 0)))
    )
