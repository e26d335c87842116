"""Provinces, data centers and the rack registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from suanli.controlplane.store.tables import datacenters, provinces, racks


@dataclass(frozen=True)
class Datacenter:
    id: int
    name: str
    province: str


async def ensure_datacenter(
    connection: AsyncConnection, name: str, province: str, now: datetime
) -> Datacenter:
    """The data center named `name`, created (with its province) when new."""
    row = (
        await connection.execute(select(datacenters).where(datacenters.c.name == name))
    ).one_or_none()
    if row is not None:
        if row.province_code != province:
            raise ValueError(f"data center {name!r} is in {row.province_code}, not {province}")
        return Datacenter(row.id, row.name, row.province_code)
    known = (
        await connection.execute(select(provinces.c.code).where(provinces.c.code == province))
    ).scalar_one_or_none()
    if known is None:
        await connection.execute(provinces.insert().values(code=province))
    result = await connection.execute(
        datacenters.insert().values(name=name, province_code=province, created_at=now)
    )
    return Datacenter(result.inserted_primary_key[0], name, province)


async def upsert_rack(
    connection: AsyncConnection,
    datacenter_id: int,
    name: str,
    rated_kw: float,
    now: datetime,
    room: str = "",
    height_u: int = 42,
) -> None:
    """Register a rack (or update its rated power) in a data center."""
    existing = (
        await connection.execute(
            select(racks.c.id).where(
                racks.c.datacenter_id == datacenter_id, racks.c.room == room, racks.c.name == name
            )
        )
    ).scalar_one_or_none()
    if existing is None:
        await connection.execute(
            racks.insert().values(
                datacenter_id=datacenter_id, room=room, name=name, rated_kw=rated_kw,
                height_u=height_u, created_at=now,
            )
        )
    else:
        await connection.execute(
            racks.update().where(racks.c.id == existing).values(rated_kw=rated_kw, height_u=height_u)
        )
