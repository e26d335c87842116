"""The national summary per vendor: devices and datasheet FLOPS per precision, null figures shown as such."""

from __future__ import annotations

import pytest
from catalog_figures import catalog_figures

from suanli.controlplane.certification.capacity import certified_capacity
from suanli.controlplane.certification.summary import build_summary
from suanli.controlplane.certification.vendors import UNKNOWN_VENDOR, vendor_supply
from suanli.controlplane.signing import JwksVerifier
from suanli.schema import Inventory, utc_now
from suanli.schema.national import PRECISIONS, NationalSummary
from tests.certification.conftest import Plane, inventory

GIB = 2**30
# (vendor, model as the tool prints it, memory) of the non-NVIDIA devices put beside the H100s.
OTHERS = {
    "huawei": ("Ascend910B3", 64 * GIB),
    "cambricon": ("MLU370-X8", 48 * GIB),
}


def _mixed(hostname: str, datacenter: str, others: dict[str, int], gpus: int = 2) -> Inventory:
    """The conftest server with `gpus` H100s and, per vendor, that many of its OTHERS device."""
    data = inventory(hostname, datacenter=datacenter, gpus=gpus).model_dump(mode="json")
    for block, (vendor, count) in enumerate(sorted(others.items()), start=1):
        model, memory_bytes = OTHERS[vendor]
        data["accelerators"] += [
            {"vendor": vendor, "index": 256 * block + i, "model": model, "uuid": f"{vendor}-{hostname}-{i}",
             "memory_total_bytes": memory_bytes}
            for i in range(count)
        ]
    return Inventory.model_validate(data)


def _expected(inventories: list[Inventory]) -> dict[str, dict]:
    """Per vendor: devices, summed non-null peak FLOPS and devices with a null figure, per precision."""
    devices = (device for inv in inventories for device in inv.accelerators)
    return catalog_figures(devices, PRECISIONS, key=lambda spec: spec.vendor)  # type: ignore[return-value]


def _assert_vendors(by_vendor: dict, expected: dict[str, dict]) -> None:
    assert sorted(by_vendor) == sorted(expected)
    for vendor, entry in expected.items():
        supply = by_vendor[vendor]
        assert supply.accelerators == entry["count"], vendor
        assert supply.accelerators_without_flops == entry["without"], vendor
        for precision in PRECISIONS:
            assert getattr(supply.flops, precision) == pytest.approx(entry["flops"][precision]), (vendor, precision)


def test_summary_groups_and_totals_per_vendor() -> None:
    jinan = [_mixed("a", "dc-jinan", {"huawei": 8}, gpus=8), _mixed("b", "dc-jinan", {"cambricon": 4}, gpus=0)]
    nanjing = [_mixed("c", "dc-nanjing", {"cambricon": 2, "huawei": 1})]
    live = [("CN-SD", inv.location.datacenter, "R01", certified_capacity(inv, inv.location.datacenter).model_dump_json())
            for inv in jinan + nanjing]
    summary = build_summary("https://cp.test", utc_now(), live, {})
    by_dc = {group.datacenter: group for group in summary.groups}
    _assert_vendors(by_dc["dc-jinan"].by_vendor, _expected(jinan))
    _assert_vendors(by_dc["dc-nanjing"].by_vendor, _expected(nanjing))
    _assert_vendors(summary.totals.by_vendor, _expected(jinan + nanjing))
    huawei = summary.totals.by_vendor["huawei"]
    assert huawei.accelerators == 9 and huawei.flops.fp16 == 0.0  # no citable datasheet: counted, not priced
    assert huawei.accelerators_without_flops == dict.fromkeys(PRECISIONS, 9)
    assert summary.totals.by_vendor["nvidia"].accelerators_without_flops == dict.fromkeys(PRECISIONS, 0)
    # Accelerator FLOPS per vendor plus the CPUs' make the capacity's FLOPS.
    vendors_fp16 = sum(v.flops.fp16 for v in summary.totals.by_vendor.values())
    assert summary.totals.capacity.flops.fp16 > 0
    assert vendors_fp16 == pytest.approx(summary.totals.capacity.flops.fp16)


def test_a_model_the_catalog_lost_is_kept_under_unknown() -> None:
    supply = vendor_supply({"NVIDIA H100 SXM5 80GB": 2, "Retired Card 9000": 3})
    assert sorted(supply) == ["nvidia", UNKNOWN_VENDOR]
    assert supply[UNKNOWN_VENDOR].accelerators == 3 and supply[UNKNOWN_VENDOR].flops.fp16 == 0.0
    assert supply[UNKNOWN_VENDOR].accelerators_without_flops == dict.fromkeys(PRECISIONS, 3)


async def test_signed_summary_carries_vendors_of_a_certified_mixed_node(plane: Plane) -> None:
    await plane.rack("R01", 10.0)
    node = _mixed("mixed-1", "dc-jinan", {"huawei": 2, "cambricon": 2})
    node_id, headers = await plane.enroll(node)
    await plane.report_usage(node_id, headers)
    await plane.service.sweep_if_leader()
    body = await (await plane.client.get("/national/v1/summary", headers=await plane.key("national"))).json()
    jwks = await (await plane.client.get("/.well-known/jwks.json")).json()
    claims = JwksVerifier(jwks, issuer="https://cp.test").verify(body["token"], utc_now())
    summary = NationalSummary.model_validate(claims["summary"])
    assert summary.totals.nodes == 1
    _assert_vendors(summary.totals.by_vendor, _expected([node]))
    (group,) = summary.groups
    assert group.by_vendor == summary.totals.by_vendor
