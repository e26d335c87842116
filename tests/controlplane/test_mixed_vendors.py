"""A node with NVIDIA and another vendor's devices, collected by the real agent collector: counted once each, catalog FLOPS."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from catalog_figures import catalog_figures
from fakes.fake_nvml import eight_h100
from fakes.vendor_tools import FIXTURES, install_npu_smi, install_tool

from suanli.agent.backends.ascend import AscendBackend
from suanli.agent.backends.cambricon import CambriconBackend
from suanli.agent.backends.hygon import HygonBackend
from suanli.agent.backends.nvml import NvmlBackend
from suanli.agent.backends.tool import ToolRunner
from suanli.agent.collectors.accelerators import AcceleratorsCollector
from suanli.agent.collectors.base import MESSAGE_KEY, CollectContext
from suanli.agent.nvml import Nvml
from suanli.catalog import cpu_peak_flops
from suanli.controlplane.store.tables import FLOPS_PRECISIONS
from suanli.schema import Inventory, Usage

from .factories import batch_json, inventory, inventory_report, usage, usage_report
from .recount import mismatches, recount, stored_totals


def _install_ascend(directory: Path) -> None:
    install_npu_smi(directory, "npu-smi-info-8x910b3.txt")


def _install_cambricon(directory: Path) -> None:
    install_tool(directory, "cnmon", {"info": (FIXTURES / "cambricon" / "cnmon-info-4xmlu370-x8.txt", 0)})


# The second vendor on the node: its tool's fixture, and what the catalog should match it to.
CASES = {
    "ascend": (_install_ascend, "huawei", 8, "huawei-ascend-910b3"),
    "cambricon": (_install_cambricon, "cambricon", 4, "cambricon-mlu370-x8-48gb"),
}


def _mixed_node(directory: Path, case: str) -> tuple[Inventory, Usage]:
    """Inventory and usage of a server with 8 fake H100 and one vendor tool answering from its fixture."""
    CASES[case][0](directory)
    runner = ToolRunner(search_path=str(directory), timeout_s=5.0)
    collector = AcceleratorsCollector([
        NvmlBackend(Nvml(eight_h100())), AscendBackend(runner), HygonBackend(runner), CambriconBackend(runner),
    ])
    fragment = collector.inventory(CollectContext())
    fragment.pop(MESSAGE_KEY)
    base = inventory(hostname=f"mixed-{case}", gpus=0)
    node = Inventory.model_validate({**base.model_dump(mode="json"), **fragment})
    samples = collector.usage(CollectContext())
    return node, Usage.model_validate({**usage().model_dump(mode="json"), **samples})


def _expected(node: Inventory) -> dict[tuple[str, str], dict[str, Any]]:
    """(vendor, catalog model) → devices, summed non-null FLOPS and devices with a null figure, per precision."""
    return catalog_figures(node.accelerators, FLOPS_PRECISIONS, key=lambda spec: (spec.vendor, spec.model))  # type: ignore[return-value]


def _per_vendor(expected: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    vendors: dict[str, dict[str, Any]] = defaultdict(lambda: {"count": 0, "flops": Counter(), "without": Counter()})
    for (vendor, _), entry in expected.items():
        vendors[vendor]["count"] += entry["count"]
        vendors[vendor]["flops"].update(entry["flops"])
        vendors[vendor]["without"].update(entry["without"])
    return vendors


def _assert_figures(group: dict[str, Any], entry: dict[str, Any]) -> None:
    assert group["accelerators_total"] == entry["count"]
    assert group["accelerators_unknown"] == 0
    for precision in FLOPS_PRECISIONS:
        assert group["flops"][precision] == pytest.approx(entry["flops"][precision]), precision
        assert group["accelerators_without_flops"][precision] == entry["without"][precision], precision


async def _capacity(client, headers, **params):
    response = await client.get("/v1/capacity", params=params, headers=headers)
    assert response.status == 200, await response.text()
    body = await response.json()
    body.pop("generated_at")
    return body


async def _post(client, headers, *reports):
    response = await client.post("/v1/reports", data=batch_json(*reports), headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_device_counted_once_with_its_catalog_flops(client, helper, tmp_path, case) -> None:
    node, node_usage = _mixed_node(tmp_path, case)
    _, other_vendor, other_count, other_key = CASES[case]
    expected = _expected(node)
    assert {e["key"]: e["count"] for e in expected.values()} == {"nvidia-h100-sxm5-80gb": 8, other_key: other_count}
    node_id, node_headers = await helper.enroll(node)
    await _post(client, node_headers, usage_report(node_id, 1, node_usage))
    key = await helper.key()

    by_vendor = await _capacity(client, key, by="vendor")
    vendors = _per_vendor(expected)
    assert [g["vendor"] for g in by_vendor["groups"]] == sorted(vendors) == sorted(["nvidia", other_vendor])
    for group in by_vendor["groups"]:
        _assert_figures(group, vendors[group["vendor"]])
    assert by_vendor["total"]["accelerators_total"] == 8 + other_count == len(node.accelerators)

    by_model = await _capacity(client, key, by="accelerator_model")
    assert {(g["vendor"], g["accelerator_model"]) for g in by_model["groups"]} == set(expected)
    for group in by_model["groups"]:
        _assert_figures(group, expected[(group["vendor"], group["accelerator_model"])])
        [model] = group["accelerators"]
        assert (model["known"], model["total"]) == (True, expected[(model["vendor"], model["model"])]["count"])
    assert by_model["total"]["unknown_accelerator_models"] == []

    by_place = await _capacity(client, key, by="province")
    cpu = cpu_peak_flops(node.cpu)
    assert cpu is not None
    [place] = by_place["groups"]
    assert (place["nodes"], place["accelerators_total"]) == (1, 8 + other_count)
    fp16 = sum(e["flops"]["fp16"] for e in expected.values())
    assert place["flops"]["fp16"] == pytest.approx(fp16)
    fp32 = sum(e["flops"]["fp32"] for e in expected.values()) + cpu.fp32_flops
    assert place["flops"]["fp32"] == pytest.approx(fp32)


async def test_figureless_models_are_counted_and_flagged_not_priced(client, helper, tmp_path) -> None:
    """Ascend 910B3 has no citable datasheet: its 8 NPUs are devices with null figures, not zero-FLOPS ones."""
    node, _ = _mixed_node(tmp_path, "ascend")
    await helper.enroll(node)
    body = await _capacity(client, await helper.key(), by="vendor")
    huawei = next(g for g in body["groups"] if g["vendor"] == "huawei")
    assert huawei["accelerators_total"] == 8 and huawei["accelerators_unknown"] == 0
    assert huawei["flops"] == dict.fromkeys(FLOPS_PRECISIONS, 0.0)
    assert huawei["accelerators_without_flops"] == dict.fromkeys(FLOPS_PRECISIONS, 8)
    nvidia = next(g for g in body["groups"] if g["vendor"] == "nvidia")
    assert nvidia["accelerators_without_flops"] == dict.fromkeys(FLOPS_PRECISIONS, 0)
    assert body["total"]["accelerators_without_flops"]["fp16"] == 8


@pytest.mark.parametrize("case", sorted(CASES))
async def test_resending_the_same_inventory_changes_nothing(client, helper, tmp_path, case) -> None:
    node, node_usage = _mixed_node(tmp_path, case)
    node_id, node_headers = await helper.enroll(node)
    await _post(client, node_headers, inventory_report(node_id, 1, node), usage_report(node_id, 2, node_usage))
    key = await helper.key()
    before = {by: await _capacity(client, key, by=by) for by in ("vendor", "accelerator_model", "province")}
    ack = await _post(client, node_headers, inventory_report(node_id, 1, node), usage_report(node_id, 2, node_usage))
    assert ack["duplicates"] == [1, 2], ack
    await _post(client, node_headers, inventory_report(node_id, 3, node), usage_report(node_id, 4, node_usage))
    after = {by: await _capacity(client, key, by=by) for by in ("vendor", "accelerator_model", "province")}
    assert after == before
    assert after["province"]["total"]["accelerators_total"] == len(node.accelerators)
    assert mismatches(await recount(helper.engine), *await stored_totals(helper.engine)) == []


async def test_a_node_with_two_models_of_one_vendor_counts_once_per_vendor(client, helper) -> None:
    from .factories import H100_BYTES

    two_models = inventory(hostname="two-models", gpus=4)
    extra = [a.model_copy(update={"index": 4 + i, "model": "NVIDIA L40S", "uuid": f"GPU-l40s-{i}",
                                  "memory_total_bytes": 48 * 2**30}) for i, a in enumerate(two_models.accelerators[:2])]
    two_models = two_models.model_copy(update={"accelerators": [*two_models.accelerators, *extra]})
    assert {a.model for a in two_models.accelerators} == {"NVIDIA H100 80GB HBM3", "NVIDIA L40S"}
    assert all(a.memory_total_bytes in (H100_BYTES, 48 * 2**30) for a in two_models.accelerators)
    await helper.enroll(two_models)
    await helper.enroll(inventory(hostname="cpu-only", gpus=0))
    key = await helper.key()

    by_place = (await _capacity(client, key, by="province"))["groups"][0]
    by_vendor = {g["vendor"]: g for g in (await _capacity(client, key, by="vendor"))["groups"]}
    nvidia = by_vendor["nvidia"]
    # One node, its cores and memory once, all six devices under the one vendor.
    assert (nvidia["nodes"], nvidia["accelerators_total"]) == (1, 6)
    assert nvidia["cpu_physical_cores"] == 112 and nvidia["memory_bytes"] == 2 * 2**40
    assert sum(g["nodes"] for g in by_vendor.values()) == by_place["nodes"] == 2, sorted(by_vendor)
    in_province = (await _capacity(client, key, by="province", vendor="nvidia"))["groups"][0]
    assert (in_province["nodes"], in_province["accelerators_total"]) == (1, 6)
    # Grouped by model, the node is in both model groups (documented), each with its own devices.
    by_model = {g["accelerator_model"]: g for g in (await _capacity(client, key, by="accelerator_model"))["groups"]}
    assert {m: (g["nodes"], g["accelerators_total"]) for m, g in by_model.items() if g["accelerators_total"]} == {
        "NVIDIA H100 SXM5 80GB": (1, 4), "NVIDIA L40S 48GB": (1, 2)}
    assert not await mismatches_now(helper)


async def mismatches_now(helper) -> list[str]:  # noqa: ANN001
    return mismatches(await recount(helper.engine), *await stored_totals(helper.engine))


async def test_migration_0004_adds_the_vendor_rows_a_database_from_before_lacks(client, helper) -> None:
    from sqlalchemy import delete

    from suanli.controlplane.store.aggregates import rebuild_vendor_rows
    from suanli.controlplane.store.tables import model_totals

    await helper.enroll(inventory(hostname="a", gpus=8))
    await helper.enroll(inventory(hostname="b", gpus=0))
    async with helper.engine.begin() as connection:  # the table as it was before 0004
        removed = await connection.execute(
            delete(model_totals).where(model_totals.c.model == "", model_totals.c.vendor != ""))
    assert removed.rowcount == 3  # one vendor row per rack, data center and province
    assert await mismatches_now(helper)
    async with helper.engine.begin() as connection:
        await connection.run_sync(rebuild_vendor_rows)
    assert not await mismatches_now(helper)
