"""Network storage in capacity: kept per scope incrementally, equal to a recount after every kind
of change, and every query shape answering what deduplicating the stored inventories gives."""

from __future__ import annotations

import itertools
from collections import defaultdict

from sqlalchemy import select

from suanli.controlplane import contribution as contrib
from suanli.controlplane.store.aggregates import rebuild_network
from suanli.controlplane.store.nodes import set_node_status
from suanli.controlplane.store.tables import (
    datacenters,
    network_source_refs,
    network_source_sizes,
    network_sources,
    network_totals,
    nodes,
)
from suanli.schema import Inventory, utc_now

from .factories import batch_json, inventory, inventory_report
from .recount import mismatches, network_mismatches, recount, stored_totals

TB = 10**12
GROUPINGS = ("province", "datacenter", "rack", "accelerator_model", "vendor")
FILTERS = ({}, {"province": "CN-SD"}, {"datacenter": "dc-jinan-1"}, {"rack": "R01"},
           {"datacenter": "dc-jinan-1", "rack": "R01"}, {"vendor": "nvidia"},
           {"accelerator_model": "Mystery X9"})
STATUS_SETS = (None, "active", "active,revoked", "quarantined")


async def _brute_force(engine, by: str, filters: dict, statuses: tuple[str, ...]) -> tuple[dict, int]:  # noqa: ANN001
    """Network bytes per group and in total, deduplicated here from every stored inventory."""
    async with engine.connect() as connection:
        rows = (await connection.execute(
            select(nodes, datacenters.c.name.label("dc")).join(datacenters, datacenters.c.id == nodes.c.datacenter_id)
        )).all()
    catalog, size, kept = contrib.DefaultCatalog(), {}, []
    for row in rows:
        part = contrib.compute(Inventory.model_validate_json(row.inventory),
                               (row.province_code, row.dc, row.rack, row.status), set(), catalog)
        for source, size_bytes in part.sources.items():
            size[source] = max(size.get(source, 0), size_bytes)
        place = {"province": row.province_code, "datacenter": row.dc, "rack": row.rack}
        if row.status in statuses and all(place[k] == v for k, v in filters.items() if k in place):
            kept.append((place, part))
    per_group: dict[tuple, set[str]] = defaultdict(set)
    every: set[str] = set()
    for place, part in kept:
        models = [m for m in part.models if filters.get("vendor", m[0]) == m[0]
                  and filters.get("accelerator_model", m[1]) == m[1]]
        if not models:
            continue
        keys = {"province": [(place["province"] or None,)],
                "datacenter": [(place["province"] or None, place["datacenter"] or None)],
                "rack": [(place["province"] or None, place["datacenter"] or None, place["rack"] or None)],
                "accelerator_model": [(v or None, m or None) for v, m in models],
                "vendor": [(v or None,) for v in {v for v, _ in models}]}[by]
        for key in keys:
            per_group[key] |= set(part.sources)
        every |= set(part.sources)
    return {k: sum(size[s] for s in v) for k, v in per_group.items()}, sum(size[s] for s in every)


def _answer_key(by: str, group: dict) -> tuple:
    names = {"province": ("province",), "datacenter": ("province", "datacenter"),
             "rack": ("province", "datacenter", "rack"), "accelerator_model": ("vendor", "accelerator_model"),
             "vendor": ("vendor",)}[by]
    return tuple(group[n] for n in names)


async def _assert_every_shape_deduplicates(client, helper) -> None:  # noqa: ANN001
    key = await helper.key()
    assert mismatches(await recount(helper.engine), *await stored_totals(helper.engine)) == []
    assert await network_mismatches(helper.engine) == []
    for by, filters, status in itertools.product(GROUPINGS, FILTERS, STATUS_SETS):
        params = {"by": by, **filters, **({"status": status} if status else {})}
        response = await client.get("/v1/capacity", params=params, headers=key)
        assert response.status == 200, await response.text()
        body = await response.json()
        statuses = tuple(status.split(",")) if status else ("pending", "active", "quarantined")
        groups, total = await _brute_force(helper.engine, by, filters, statuses)
        answered = {_answer_key(by, g): g["storage_network_bytes"] for g in body["groups"] if g["nodes"]}
        assert {k: v for k, v in answered.items() if v} == {k: v for k, v in groups.items() if v}, params
        assert body["total"]["storage_network_bytes"] == total, params


async def _post_inventory(client, headers, node_id: str, seq: int, body: Inventory) -> None:  # noqa: ANN001
    response = await client.post("/v1/reports", data=batch_json(inventory_report(node_id, seq, body)), headers=headers)
    assert response.status == 200, await response.text()


async def test_network_storage_follows_every_change(client, helper) -> None:
    shared = ("nas1:/export/data", 500 * TB)
    a, a_headers = await helper.enroll(inventory(hostname="a", rack="R01", nfs=(shared, ("nas-a:/x", 7 * TB))))
    b, b_headers = await helper.enroll(inventory(hostname="b", rack="R02", nfs=(shared,), gpu_model="Mystery X9"))
    c, _ = await helper.enroll(inventory(hostname="c", rack="R01", gpus=0, nfs=(("nas-c:/y", 3 * TB),)))
    d, d_headers = await helper.enroll(inventory(hostname="d", datacenter="dc-nanjing-1", province="CN-JS",
                                                 rack="R01", nfs=(shared,)))
    await _assert_every_shape_deduplicates(client, helper)

    # a's second source changes to another; b's export is resized; d unmounts everything.
    await _post_inventory(client, a_headers, a, 1,
                          inventory(hostname="a", rack="R01", nfs=(shared, ("nas-z:/z", 9 * TB))))
    await _post_inventory(client, b_headers, b, 1, inventory(hostname="b", rack="R02", gpu_model="Mystery X9",
                                                            nfs=(("nas1:/export/data", 600 * TB),)))
    await _post_inventory(client, d_headers, d, 1, inventory(hostname="d", datacenter="dc-nanjing-1",
                                                            province="CN-JS", rack="R01", nfs=()))
    await _assert_every_shape_deduplicates(client, helper)

    # a leaves rack R01 for R02 and its accelerator model group; c is quarantined, b revoked.
    await _post_inventory(client, a_headers, a, 2, inventory(hostname="a", rack="R02", gpu_model="Mystery X9",
                                                            nfs=(shared, ("nas-z:/z", 9 * TB))))
    await set_node_status(helper.engine, c, "quarantined", utc_now(), actor="test")
    await set_node_status(helper.engine, b, "revoked", utc_now(), actor="test")
    await _assert_every_shape_deduplicates(client, helper)

    # b comes back and reports the old size again: the 600 TB nobody reports any more is gone.
    await set_node_status(helper.engine, b, "active", utc_now(), actor="test")
    await _post_inventory(client, b_headers, b, 2, inventory(hostname="b", rack="R02", nfs=(shared,)))
    await _assert_every_shape_deduplicates(client, helper)


async def test_a_resized_source_moves_every_scope_it_is_seen_in(client, helper) -> None:
    # Only node y changes, but the size of its source counts in x's data center too.
    await helper.enroll(inventory(hostname="x", datacenter="dc-nanjing-1", province="CN-JS", nfs=(("nas:/s", 5 * TB),)))
    y, y_headers = await helper.enroll(inventory(hostname="y", nfs=(("nas:/s", 5 * TB),)))
    await _post_inventory(client, y_headers, y, 1, inventory(hostname="y", nfs=(("nas:/s", 8 * TB),)))
    body = await (await client.get("/v1/capacity", params={"by": "province"}, headers=await helper.key())).json()
    assert [g["storage_network_bytes"] for g in body["groups"]] == [8 * TB, 8 * TB]
    assert body["total"]["storage_network_bytes"] == 8 * TB
    await _post_inventory(client, y_headers, y, 2, inventory(hostname="y", nfs=()))
    body = await (await client.get("/v1/capacity", params={"by": "province"}, headers=await helper.key())).json()
    assert body["total"]["storage_network_bytes"] == 5 * TB  # back to the size x still reports
    assert await network_mismatches(helper.engine) == []


async def test_network_rows_rebuilt_from_stored_contributions(client, helper) -> None:
    # What migration 0003 does to a database that already holds nodes.
    await helper.enroll(inventory(hostname="p", nfs=(("nas:/p", 2 * TB), ("nas:/q", 3 * TB))))
    await helper.enroll(inventory(hostname="q", rack="R02", gpus=0, nfs=(("nas:/q", 4 * TB),)))
    async with helper.engine.begin() as connection:
        for table in (network_totals, network_source_refs, network_source_sizes, network_sources):
            await connection.execute(table.delete())
        await connection.run_sync(rebuild_network)
    assert await network_mismatches(helper.engine) == []
    body = await (await client.get("/v1/capacity", headers=await helper.key())).json()
    assert body["total"]["storage_network_bytes"] == 6 * TB
