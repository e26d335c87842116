"""A database lease: with several control-plane processes on one database, one runs a periodic job at a time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.certification.tables import leases


async def acquire(engine: AsyncEngine, name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take or extend the lease `name` for `holder` until now + ttl; False while another holder has it."""
    expires_at = now + ttl
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    async with engine.begin() as connection:
        taken = await connection.execute(
            leases.update()
            .where(leases.c.name == name, or_(leases.c.holder == holder, leases.c.expires_at <= now))
            .values(holder=holder, expires_at=expires_at)
        )
        if taken.rowcount:
            return True
        inserted = await connection.execute(
            dialect.insert(leases).values(name=name, holder=holder, expires_at=expires_at).on_conflict_do_nothing()
        )
        return bool(inserted.rowcount)


async def release(engine: AsyncEngine, name: str, holder: str) -> None:
    """Give the lease up at shutdown so another process takes over without waiting for expiry."""
    async with engine.begin() as connection:
        await connection.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))
