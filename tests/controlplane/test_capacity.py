"""Capacity: grouped and filtered aggregates, FLOPS from the catalog, shared storage once, racks."""

from __future__ import annotations

import pytest

from suanli.catalog import cpu_peak_flops, match_accelerator
from suanli.controlplane.store.locations import upsert_rack
from suanli.controlplane.store.nodes import set_node_status
from suanli.schema import utc_now
from suanli.schema.capacity import CapacityFigures, CapacityGroup, CapacityResponse

from .factories import H100_BYTES, batch_json, inventory, inventory_report, usage, usage_report
from .recount import mismatches, recount, stored_totals


async def _capacity(client, headers, **params):  # noqa: ANN001, ANN202
    response = await client.get("/v1/capacity", params=params, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def _post(client, headers, *reports):  # noqa: ANN001, ANN202
    response = await client.post("/v1/reports", data=batch_json(*reports), headers=headers)
    assert response.status == 200, await response.text()


async def test_capacity_counts_a_node_from_its_inventory(client, helper) -> None:
    await helper.enroll(inventory(gpus=8))
    body = await _capacity(client, await helper.key(), by="province")
    spec = match_accelerator("nvidia", "NVIDIA H100 80GB HBM3", H100_BYTES)
    cpu = cpu_peak_flops(inventory().cpu)
    assert spec is not None and cpu is not None
    [group] = body["groups"]
    assert group["province"] == "CN-SD" and group["nodes"] == 1
    assert (group["cpu_physical_cores"], group["cpu_logical_cores"]) == (112, 224)
    assert group["memory_bytes"] == 2 * 2**40
    assert group["accelerators"] == [
        {"vendor": "nvidia", "model": spec.model, "known": True, "total": 8, "in_use": 0}
    ]
    assert group["flops"]["fp16"] == pytest.approx(8 * spec.peak_flops["fp16"])
    assert group["flops"]["fp64"] == pytest.approx(8 * spec.peak_flops["fp64"] + cpu.fp64_flops)
    assert group["storage_local_bytes"] == 2 * 3_840_000_000_000
    assert group["storage_network_bytes"] == 500 * 10**12
    assert (group["ports_400g"], group["ports_200g"], group["ports_100g"]) == (1, 0, 1)
    assert body["total"]["nodes"] == 1


async def test_shared_network_storage_is_counted_once(client, helper) -> None:
    for name in ("a", "b", "c"):
        await helper.enroll(inventory(hostname=name, rack=f"R-{name}", nfs=(("nas1:/export/data", 10**15),)))
    body = await _capacity(client, await helper.key(), by="rack")
    assert [g["storage_network_bytes"] for g in body["groups"]] == [10**15] * 3
    assert body["total"]["storage_network_bytes"] == 10**15
    assert body["total"]["storage_bytes"] == 3 * 2 * 3_840_000_000_000 + 10**15


async def test_unknown_accelerator_counts_as_device_without_flops(client, helper) -> None:
    await helper.enroll(inventory(gpus=2, gpu_model="Mystery X9", ports_mbps=()))
    body = await _capacity(client, await helper.key(), by="accelerator_model")
    [group] = body["groups"]
    assert group["accelerator_model"] == "Mystery X9" and group["vendor"] == "nvidia"
    assert group["accelerators_total"] == 2 and group["accelerators_unknown"] == 2
    assert group["unknown_accelerator_models"] == ["Mystery X9"]
    assert group["flops"]["fp16"] == 0.0


async def test_in_use_follows_latest_usage(client, helper) -> None:
    node_id, headers = await helper.enroll(inventory(gpus=4))
    key = await helper.key()
    await _post(client, headers, usage_report(node_id, 1, usage((90.0, 50.0, 1.0, 0.0))))
    assert (await _capacity(client, key))["total"]["accelerators_in_use"] == 2
    await _post(client, headers, usage_report(node_id, 2, usage((0.0, 0.0, 0.0, 0.0))))
    assert (await _capacity(client, key))["total"]["accelerators_in_use"] == 0


async def test_inventory_change_moves_the_node_and_its_figures(client, helper) -> None:
    node_id, headers = await helper.enroll(inventory(rack="R01", gpus=8))
    await _post(client, headers, inventory_report(node_id, 1, inventory(rack="R02", gpus=4)))
    body = await _capacity(client, await helper.key(), by="rack")
    assert [(g["rack"], g["nodes"], g["accelerators_total"]) for g in body["groups"]] == [("R02", 1, 4)]
    assert mismatches(await recount(helper.engine), *await stored_totals(helper.engine)) == []


async def test_filters_and_status(client, helper) -> None:
    first, _ = await helper.enroll(inventory(hostname="a", datacenter="dc-jinan-1", province="CN-SD"))
    await helper.enroll(inventory(hostname="b", datacenter="dc-nanjing-1", province="CN-JS", gpus=2))
    key = await helper.key()
    by_dc = await _capacity(client, key, by="datacenter", province="CN-JS")
    assert [(g["datacenter"], g["accelerators_total"]) for g in by_dc["groups"]] == [("dc-nanjing-1", 2)]
    await set_node_status(helper.engine, first, "quarantined", utc_now(), actor="test")
    assert (await _capacity(client, key, status="active"))["total"]["nodes"] == 1
    assert (await _capacity(client, key, status="active,quarantined"))["total"]["nodes"] == 2
    await set_node_status(helper.engine, first, "revoked", utc_now(), actor="test")
    assert (await _capacity(client, key))["total"]["nodes"] == 1  # revoked is left out by default
    assert mismatches(await recount(helper.engine), *await stored_totals(helper.engine)) == []


async def test_standard_racks_from_the_registry(client, helper) -> None:
    await helper.enroll(inventory(rack="R01"))
    async with helper.engine.begin() as connection:
        await upsert_rack(connection, 1, "R01", 10.0, utc_now())
        await upsert_rack(connection, 1, "R02", 5.0, utc_now())
    body = await _capacity(client, await helper.key(), by="rack")
    assert [(g["rack"], g["nodes"], g["standard_racks"]) for g in body["groups"]] == [("R01", 1, 4.0), ("R02", 0, 2.0)]
    assert body["total"]["standard_racks"] == 6.0


async def test_accelerator_filter(client, helper) -> None:
    await helper.enroll(inventory(hostname="a", gpus=8))
    await helper.enroll(inventory(hostname="b", gpus=0))
    body = await _capacity(client, await helper.key(), vendor="nvidia")
    assert body["total"]["nodes"] == 1 and body["total"]["accelerators_total"] == 8


@pytest.mark.parametrize(
    ("params", "status"), [({"by": "planet"}, 400), ({"status": "asleep"}, 400), ({"colour": "red"}, 400)]
)
async def test_bad_query_is_400(client, helper, params, status) -> None:
    response = await client.get("/v1/capacity", params=params, headers=await helper.key())
    assert response.status == status
    assert (await response.json())["error"]["code"] == "invalid_query"


async def test_capacity_needs_an_operator_key(client, helper) -> None:
    _, node_headers = await helper.enroll()
    assert (await client.get("/v1/capacity")).status == 401
    assert (await client.get("/v1/capacity", headers=node_headers)).status == 401
    national = await client.get("/v1/capacity", headers=await helper.key("national"))
    assert national.status == 403 and (await national.json())["error"]["code"] == "forbidden_role"
    assert (await client.get("/v1/capacity", headers=await helper.key("admin"))).status == 200


async def test_answer_is_every_field_of_the_contract(client, helper) -> None:
    # The store builds the answer's models without validation; the JSON must still be the contract's.
    await helper.enroll(inventory(hostname="a", gpus=2, gpu_model="Mystery X9"))
    await helper.enroll(inventory(hostname="b", rack="R02"))
    for by in ("rack", "accelerator_model"):
        response = await client.get("/v1/capacity", params={"by": by}, headers=await helper.key())
        text = await response.text()
        answer = CapacityResponse.model_validate_json(text)
        assert answer.model_dump_json(by_alias=True) == text
        assert all(set(g.model_dump()) == set(CapacityGroup.model_fields) for g in answer.groups)
        assert set(answer.total.model_dump()) == set(CapacityFigures.model_fields)


async def test_aggregates_written_in_several_statements_still_add_up(client, helper, monkeypatch) -> None:  # noqa: ANN001
    """SQLite writes a delta's rows as multi-row upserts, as many rows a statement as its parameter
    limit allows: here two a statement, so every delta spans several, and the sums stay right."""
    from suanli.controlplane.store import aggregates

    monkeypatch.setattr(aggregates, "SQLITE_MAX_PARAMETERS", 54)  # 2 rows of 24 or 27 columns
    for index, (datacenter, province) in enumerate([("dc-jinan-1", "CN-SD"), ("dc-nanjing-1", "CN-JS")] * 2):
        node_id, headers = await helper.enroll(inventory(hostname=f"n{index}", datacenter=datacenter,
                                                         province=province, rack=f"R{index}", gpus=index + 1))
        await _post(client, headers, usage_report(node_id, 1, usage((90.0,) * (index + 1))))
    assert (await _capacity(client, await helper.key()))["total"]["nodes"] == 4
    assert mismatches(await recount(helper.engine), *await stored_totals(helper.engine)) == []
