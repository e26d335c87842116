"""Gather the facts of every node for a sweep, re-reading an inventory only when its hash changed."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane.certification.capacity import CapacityParts, capacity_parts
from suanli.controlplane.certification.checks import CertificationPolicy, CheckedInventory
from suanli.controlplane.certification.identities import Identity, hardware_identities
from suanli.controlplane.clock import MAX_CLOCK_SKEW
from suanli.controlplane.store.tables import datacenters, nodes, racks, usage_history
from suanli.schema import AcceleratorUsage, Inventory, Usage

_FETCH_CHUNK = 500


@dataclass(frozen=True, slots=True)
class InventoryDigest:
    """What a sweep keeps of one inventory between sweeps: what the checks read, the identities, the
    capacity parts. Every live node has one in the service's cache, so it is kept compact."""

    checked: CheckedInventory
    identities: frozenset[Identity]
    parts: CapacityParts


def digest_inventory(inventory_json: str, datacenter: str) -> InventoryDigest:
    inventory = Inventory.model_validate_json(inventory_json)
    return InventoryDigest(CheckedInventory.of(inventory), hardware_identities(inventory), capacity_parts(inventory, datacenter))


@dataclass
class DigestCache:
    """Node id → (inventory hash, digest), kept by the certification service between sweeps."""

    entries: dict[str, tuple[str, InventoryDigest]] = field(default_factory=dict)


@dataclass(slots=True)
class NodeRow:
    """One node as the sweep sees it; revoked nodes carry no inventory (they can hold nothing).

    `latest_usage` is read only for the chunk of nodes being evaluated (`attach_latest_usage`):
    holding every node's usage report for the whole sweep cost hundreds of MB at 100 000 nodes.
    """

    node_id: str
    status: str
    province: str
    datacenter: str
    enrolled_at: datetime
    last_seen_at: datetime | None
    usage_reports_in_window: int
    digest: InventoryDigest | None
    latest_usage: Usage | None = None

    @property
    def inventory(self) -> CheckedInventory | None:
        return self.digest.checked if self.digest else None


@dataclass
class SweepInput:
    nodes: list[NodeRow]
    racks_by_datacenter: dict[str, frozenset[str]]
    rated_kw: dict[tuple[str, str], float]  # (datacenter, rack name) → rated kW (largest if in several rooms)


def unhealthy_usage(latest_usage_json: str | None) -> Usage | None:
    """Only the accelerators the health check acts on (an error or uncorrected ECC errors), cheaply.

    The body was validated at ingest; here it is read with `json` and only failing devices are kept.
    """
    if not latest_usage_json:
        return None
    devices = json.loads(latest_usage_json).get("accelerators") or []
    failing = [d for d in devices if d.get("error") or (d.get("ecc_uncorrected_errors") or 0) > 0]
    if not failing:
        return None
    return Usage.model_construct(accelerators=[AcceleratorUsage.model_construct(**d) for d in failing])


async def _usage_counts(engine: AsyncEngine, since: datetime, until: datetime) -> dict[str, int]:
    """Usage reports per node dated inside the window; reports dated ahead of it (a fast clock) do not count."""
    query = (
        select(usage_history.c.node_id, func.count())
        .where(usage_history.c.sent_at >= since, usage_history.c.sent_at <= until)
        .group_by(usage_history.c.node_id)
    )
    async with engine.connect() as connection:
        return {node_id: count for node_id, count in await connection.execute(query)}


async def rack_registry(engine: AsyncEngine) -> tuple[dict[str, frozenset[str]], dict[tuple[str, str], float]]:
    """Rack names per data center, and each rack's rated power."""
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


async def _refresh(engine: AsyncEngine, stale: dict[str, tuple[str, str]], cache: DigestCache) -> None:
    """Read and digest the inventories whose hash changed since the last sweep."""
    node_ids = list(stale)
    async with engine.connect() as connection:
        for start in range(0, len(node_ids), _FETCH_CHUNK):
            chunk = node_ids[start : start + _FETCH_CHUNK]
            query = select(nodes.c.id, nodes.c.inventory_hash, nodes.c.inventory).where(nodes.c.id.in_(chunk))
            for node_id, inventory_hash, inventory_json in await connection.execute(query):
                try:
                    cache.entries[node_id] = (inventory_hash, digest_inventory(inventory_json, stale[node_id][1]))
                except ValidationError:
                    # Stored before a contract change, or damaged: such a node cannot be certified,
                    # and one bad row must not stop the sweep of all the others.
                    cache.entries.pop(node_id, None)


async def attach_latest_usage(engine: AsyncEngine, rows: Sequence[NodeRow]) -> None:
    """Set the unhealthy part of the latest usage of these rows' live nodes (see `unhealthy_usage`)."""
    live = [row for row in rows if row.status != "revoked"]
    by_id = {row.node_id: row for row in live}
    async with engine.connect() as connection:
        for start in range(0, len(live), _FETCH_CHUNK):
            chunk = [row.node_id for row in live[start : start + _FETCH_CHUNK]]
            query = select(nodes.c.id, nodes.c.latest_usage).where(nodes.c.id.in_(chunk))
            for node_id, latest_usage_json in await connection.execute(query):
                by_id[node_id].latest_usage = unhealthy_usage(latest_usage_json)


async def gather(engine: AsyncEngine, now: datetime, policy: CertificationPolicy, cache: DigestCache | None = None) -> SweepInput:
    """Everything the checks need but the latest usage, in a few queries; inventories come from the
    cache when unchanged. The sweep reads latest usage per chunk with `attach_latest_usage`."""
    cache = cache if cache is not None else DigestCache()
    counts = await _usage_counts(engine, now - timedelta(seconds=policy.availability_window_s), now + MAX_CLOCK_SKEW)
    racks_by_dc, rated = await rack_registry(engine)
    query = select(
        nodes.c.id, nodes.c.status, nodes.c.province_code, datacenters.c.name.label("datacenter"),
        nodes.c.enrolled_at, nodes.c.last_seen_at, nodes.c.inventory_hash,
    ).join(datacenters, datacenters.c.id == nodes.c.datacenter_id)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    live = {row.id for row in rows if row.status != "revoked"}  # a revoked node holds nothing, conflicts with nobody
    stale = {row.id: (row.inventory_hash, row.datacenter) for row in rows
             if row.id in live and cache.entries.get(row.id, ("",))[0] != row.inventory_hash}
    await _refresh(engine, stale, cache)
    for node_id in set(cache.entries) - live:
        del cache.entries[node_id]
    result = [
        NodeRow(
            node_id=row.id, status=row.status, province=row.province_code, datacenter=row.datacenter,
            enrolled_at=row.enrolled_at, last_seen_at=row.last_seen_at,
            usage_reports_in_window=counts.get(row.id, 0),
            digest=cache.entries[row.id][1] if row.id in cache.entries else None,
        )
        for row in rows
    ]
    return SweepInput(result, racks_by_dc, rated)
