"""Gather the facts of every node for a sweep: one read of nodes, usage counts and the rack registry."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.certification.checks import CertificationPolicy
from suanli.controlplane.store.tables import datacenters, nodes, racks, usage_history
from suanli.schema import Inventory, Usage


@dataclass
class NodeRow:
    """One node as the sweep sees it; inventory and usage parsed only for nodes that can be certified."""

    node_id: str
    status: str
    province: str
    datacenter: str
    enrolled_at: datetime
    last_seen_at: datetime | None
    usage_reports_in_window: int
    inventory: Inventory | None
    latest_usage: Usage | None


@dataclass
class SweepInput:
    nodes: list[NodeRow]
    racks_by_datacenter: dict[str, frozenset[str]]
    rated_kw: dict[tuple[str, str], float]  # (datacenter, rack name) → rated kW (largest if in several rooms)


async def _usage_counts(engine: AsyncEngine, since: datetime) -> dict[str, int]:
    query = (
        select(usage_history.c.node_id, func.count())
        .where(usage_history.c.sent_at >= since)
        .group_by(usage_history.c.node_id)
    )
    async with engine.connect() as connection:
        return {node_id: count for node_id, count in await connection.execute(query)}


async def rack_registry(engine: AsyncEngine) -> tuple[dict[str, frozenset[str]], dict[tuple[str, str], float]]:
    query = select(datacenters.c.name, racks.c.name.label("rack"), racks.c.rated_kw).join(
        datacenters, datacenters.c.id == racks.c.datacenter_id
    )
    names: dict[str, set[str]] = defaultdict(set)
    rated: dict[tuple[str, str], float] = {}
    async with engine.connect() as connection:
        for datacenter, rack, rated_kw in await connection.execute(query):
            names[datacenter].add(rack)
            rated[(datacenter, rack)] = max(rated.get((datacenter, rack), 0.0), rated_kw)
    return {dc: frozenset(r) for dc, r in names.items()}, rated


async def gather(engine: AsyncEngine, now: datetime, policy: CertificationPolicy) -> SweepInput:
    """Everything the checks need, read in a few queries rather than one per node."""
    counts = await _usage_counts(engine, now - timedelta(seconds=policy.availability_window_s))
    racks_by_dc, rated = await rack_registry(engine)
    query = select(
        nodes.c.id, nodes.c.status, nodes.c.province_code, datacenters.c.name.label("datacenter"),
        nodes.c.enrolled_at, nodes.c.last_seen_at, nodes.c.inventory, nodes.c.latest_usage,
    ).join(datacenters, datacenters.c.id == nodes.c.datacenter_id)
    rows: list[NodeRow] = []
    async with engine.connect() as connection:
        for row in await connection.execute(query):
            live = row.status != "revoked"  # a revoked node can hold nothing and conflicts with nobody
            rows.append(NodeRow(
                node_id=row.id, status=row.status, province=row.province_code, datacenter=row.datacenter,
                enrolled_at=row.enrolled_at, last_seen_at=row.last_seen_at,
                usage_reports_in_window=counts.get(row.id, 0),
                inventory=Inventory.model_validate_json(row.inventory) if live else None,
                latest_usage=Usage.model_validate_json(row.latest_usage) if live and row.latest_usage else None,
            ))
    return SweepInput(rows, racks_by_dc, rated)
