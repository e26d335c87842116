"""Nodes: credential look-up, status changes, listing and detail (enrollment: `store/enroll.py`)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane import contribution as contrib
from suanli.controlplane.credentials import hash_secret
from suanli.controlplane.errors import ApiError
from suanli.controlplane.store import aggregates, audit
from suanli.controlplane.store.tables import NODE_STATUSES, datacenters, node_credentials, nodes
from suanli.schema import Inventory


@dataclass(frozen=True)
class NodeIdentity:
    """Who a node credential belongs to, as the report handler needs it."""

    node_id: str
    status: str
    province: str
    datacenter: str


def inventory_hash(inventory: Inventory) -> str:
    """Hash of the facts (collector timings excluded, so an unchanged host keeps its hash)."""
    return hashlib.sha256(inventory.model_dump_json(exclude={"collectors"}).encode()).hexdigest()


def new_node_id() -> str:
    return "nd-" + uuid.uuid4().hex[:20]


def check_location(inventory: Inventory, datacenter: str, province: str) -> None:
    """An inventory may leave its location blank but never name another data center or province."""
    location = inventory.location
    wrong = {}
    if location.datacenter and location.datacenter != datacenter:
        wrong["datacenter"] = {"expected": datacenter, "got": location.datacenter}
    if location.province and location.province != province:
        wrong["province"] = {"expected": province, "got": location.province}
    if wrong:
        raise ApiError("location_mismatch", detail=wrong)


async def node_for_credential(engine: AsyncEngine, credential: str) -> NodeIdentity | None:
    """The node a valid credential belongs to, or None."""
    query = (
        select(nodes.c.id, nodes.c.status, nodes.c.province_code, datacenters.c.name)
        .join(node_credentials, node_credentials.c.node_id == nodes.c.id)
        .join(datacenters, datacenters.c.id == nodes.c.datacenter_id)
        .where(node_credentials.c.credential_hash == hash_secret(credential))
        .where(node_credentials.c.revoked_at.is_(None))
    )
    async with engine.connect() as connection:
        row = (await connection.execute(query)).one_or_none()
    return None if row is None else NodeIdentity(row.id, row.status, row.province_code, row.name)


async def set_node_status(
    engine: AsyncEngine, node_id: str, status: str, now: datetime, actor: str, reason: str | None = None
) -> None:
    """Move a node to `status` (quarantine, revoke, approve) and its contribution with it."""
    if status not in NODE_STATUSES:
        raise ValueError(f"status must be one of {NODE_STATUSES}")
    async with engine.begin() as connection:
        query = select(nodes.c.status, nodes.c.contribution).where(nodes.c.id == node_id)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        else:
            # SQLite has no FOR UPDATE: a write first takes the database's write lock, so the
            # contribution read next cannot change before this transaction commits.
            await connection.execute(nodes.update().where(nodes.c.id == node_id).values(status=nodes.c.status))
        row = (await connection.execute(query)).one_or_none()
        if row is None:
            raise ApiError("node_not_found", detail={"node_id": node_id})
        old = contrib.Contribution.from_json(row.contribution)
        new = contrib.with_status(old, status)
        await connection.execute(
            nodes.update().where(nodes.c.id == node_id).values(
                status=status, status_reason=reason, status_changed_at=now, contribution=new.to_json()
            )
        )
        delta = aggregates.AggregateDelta()
        delta.replace(old, new)
        await connection.run_sync(aggregates.apply, delta)
        await audit.record(
            connection, now, actor, "node.status", node_id, {"from": row.status, "to": status, "reason": reason}
        )


def _summary_columns() -> list:
    return [
        nodes.c.id, nodes.c.status, nodes.c.hostname, nodes.c.province_code, datacenters.c.name.label("dc"),
        nodes.c.room, nodes.c.rack, nodes.c.enrolled_at, nodes.c.last_seen_at, nodes.c.last_seq,
        nodes.c.inventory_hash, nodes.c.contribution,
    ]


@dataclass(frozen=True)
class NodeFilter:
    province: str | None = None
    datacenter: str | None = None
    rack: str | None = None
    status: str | None = None
    hostname: str | None = None


async def list_nodes(engine: AsyncEngine, where: NodeFilter, after_id: str | None, limit: int) -> list[Any]:
    """One page of nodes ordered by id, starting after `after_id` (keyset paging, stable under writes)."""
    query = select(*_summary_columns()).join(datacenters, datacenters.c.id == nodes.c.datacenter_id)
    for name, column in (("province", nodes.c.province_code), ("datacenter", datacenters.c.name),
                         ("rack", nodes.c.rack), ("status", nodes.c.status), ("hostname", nodes.c.hostname)):
        if getattr(where, name) is not None:
            query = query.where(column == getattr(where, name))
    if after_id is not None:
        query = query.where(nodes.c.id > after_id)
    async with engine.connect() as connection:
        return list((await connection.execute(query.order_by(nodes.c.id).limit(limit))).all())


async def get_node(engine: AsyncEngine, node_id: str) -> Any | None:
    """The node's row with its latest inventory and usage, or None."""
    query = (
        select(*_summary_columns(), nodes.c.status_reason, nodes.c.inventory, nodes.c.inventory_changed_at,
               nodes.c.latest_usage, nodes.c.usage_sent_at)
        .join(datacenters, datacenters.c.id == nodes.c.datacenter_id)
        .where(nodes.c.id == node_id)
    )
    async with engine.connect() as connection:
        return (await connection.execute(query)).one_or_none()
