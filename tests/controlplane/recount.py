"""Aggregates recounted from scratch from the stored inventories, to check the incremental ones."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from suanli.controlplane import contribution as contrib
from suanli.controlplane.store.aggregates import AggregateDelta
from suanli.controlplane.store.network import STATUS_MASKS
from suanli.controlplane.store.tables import (
    TOTALS_VALUE_COLUMNS,
    capacity_totals,
    datacenters,
    model_totals,
    network_source_refs,
    network_totals,
    nodes,
)
from suanli.schema import Inventory, Usage


async def recount(engine: AsyncEngine, threshold_percent: float = 5.0) -> AggregateDelta:
    """Every node's contribution computed afresh from its stored inventory and latest usage."""
    delta = AggregateDelta()
    catalog = contrib.DefaultCatalog()
    async with engine.connect() as connection:
        rows = (await connection.execute(
            select(nodes, datacenters.c.name.label("dc")).join(datacenters, datacenters.c.id == nodes.c.datacenter_id)
        )).all()
    for row in rows:
        inventory = Inventory.model_validate_json(row.inventory)
        usage = Usage.model_validate_json(row.latest_usage) if row.latest_usage else None
        dims = (row.province_code, row.dc, row.rack, row.status)
        delta.add(contrib.compute(inventory, dims, contrib.in_use_indexes(usage, threshold_percent), catalog), +1)
    return delta


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


async def stored_totals(engine: AsyncEngine) -> tuple[dict[tuple, dict[str, Any]], dict[tuple, dict[str, Any]]]:
    async with engine.connect() as connection:
        capacity = {
            (r["level"], r["province"], r["datacenter"], r["rack"], r["status"]): dict(r)
            for r in (await connection.execute(select(capacity_totals))).mappings()
        }
        models = {
            ((r["level"], r["province"], r["datacenter"], r["rack"], r["status"]), r["vendor"], r["model"]): dict(r)
            for r in (await connection.execute(select(model_totals))).mappings()
        }
    return capacity, models


def mismatches(expected: AggregateDelta, capacity: dict, models: dict) -> list[str]:
    """Differences between a recount and the stored aggregate rows (rows at zero may linger)."""
    problems = []
    pairs = [(k, v, capacity.get(k, {})) for k, v in expected.capacity.items()]
    pairs += [(k, v, models.get(k, {})) for k, (_, v) in expected.models.items()]
    for key, values, row in pairs:
        for column in TOTALS_VALUE_COLUMNS:
            if not _close(values.get(column, 0), row.get(column, 0)):
                problems.append(f"{key} {column}: recount {values.get(column, 0)} stored {row.get(column, 0)}")
    extra = defaultdict(int)
    for key, row in [*capacity.items(), *models.items()]:
        if key not in expected.capacity and key not in expected.models and row["nodes"]:
            extra[key] += row["nodes"]
    problems += [f"{key}: stored {n} nodes the recount lacks" for key, n in extra.items()]
    return problems


def expected_network_totals(expected: AggregateDelta) -> dict[tuple, int]:
    """From a recount: per (scope, status mask), the sizes of the sources some node of those
    statuses mounts in the scope, each source at the largest size any node reports for it."""
    size: dict[str, int] = {}
    for (source, size_bytes), mounts in expected.source_sizes.items():
        if mounts > 0:
            size[source] = max(size.get(source, 0), size_bytes)
    totals: dict[tuple, int] = defaultdict(int)
    for (scope, source), counts in expected.source_refs.items():
        present = sum(1 << i for i, count in enumerate(counts) if count > 0)
        for mask in STATUS_MASKS:
            if present & mask:
                totals[(scope, mask)] += size[source]
    return dict(totals)


async def network_mismatches(engine: AsyncEngine, threshold_percent: float = 5.0) -> list[str]:
    """Differences between the kept network-storage rows and a recount from stored inventories."""
    expected = await recount(engine, threshold_percent)
    async with engine.connect() as connection:
        stored_totals = {
            (tuple(row[:6]), row.statuses): row.network_bytes
            for row in (await connection.execute(select(network_totals))).all()
            if row.network_bytes
        }
        stored_refs = {
            (tuple(row[:6]), row.source): list(row[7:])
            for row in (await connection.execute(select(network_source_refs))).all()
            if any(row[7:])
        }
    want_refs = {key: counts for key, counts in expected.source_refs.items() if any(counts)}
    want = expected_network_totals(expected)
    return _differences("refs", want_refs, stored_refs, None) + _differences("network", want, stored_totals, 0)


def _differences(name: str, recounted: dict, stored: dict, missing: Any) -> list[str]:
    return [f"{name} {key}: recount {recounted.get(key, missing)} stored {stored.get(key, missing)}"
            for key in sorted(set(recounted) | set(stored), key=str)
            if recounted.get(key, missing) != stored.get(key, missing)]
