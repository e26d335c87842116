"""The ledger on a tiny fleet whose totals are worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from suanli.schema import (
    Accelerator,
    BlockDevice,
    CpuInfo,
    Filesystem,
    HostIdentity,
    InterfaceKind,
    Inventory,
    Location,
    MemoryInfo,
    NetworkInterface,
)
from suanli.sim.ledger import Ledger

GIB = 2**30
TB = 10**12


@dataclass(frozen=True)
class _Rack:
    datacenter: str
    province: str
    rated_kw: float


def _nfs(source: str, size_bytes: int) -> Filesystem:
    return Filesystem(mountpoint="/mnt/" + source.split("/")[-1], device=source, fstype="nfs4",
                      size_bytes=size_bytes, used_bytes=0, available_bytes=size_bytes, is_network=True,
                      network_source=source)


def _gpu_node() -> Inventory:
    """8 × H100 SXM, 2 × 3.84 TB NVMe, NFS a (100 TB), 8 × IB NDR + 2 × 200 GbE."""
    gpus = [Accelerator(vendor="nvidia", index=i, model="NVIDIA H100 80GB HBM3", uuid=f"GPU-{i}",
                        memory_total_bytes=81559 * 2**20) for i in range(8)]
    ib = [NetworkInterface(name=f"ib{i}", kind=InterfaceKind.INFINIBAND, link_up=True, ib_rate_gbps=400.0)
          for i in range(8)]
    eth = [NetworkInterface(name=f"eth{i}", link_up=True, speed_mbps=200_000) for i in range(2)]
    return Inventory(
        host=HostIdentity(hostname="gpu1"), location=Location(province="CN-SD", datacenter="dc-a"),
        cpu=CpuInfo(sockets=2, physical_cores=112, logical_cores=224),
        memory=MemoryInfo(total_bytes=2048 * GIB), accelerators=gpus,
        block_devices=[BlockDevice(name=f"nvme{i}n1", size_bytes=3_840 * 10**9) for i in range(2)],
        filesystems=[_nfs("nfs1:/a", 100 * TB)], network_interfaces=ib + eth)


def _cpu_node() -> Inventory:
    """64 cores, one 1 TB disk and a removable 64 GB stick, NFS a and b, 2 × 25 GbE + 1 × 100 GbE."""
    return Inventory(
        host=HostIdentity(hostname="cpu1"), location=Location(province="CN-SD", datacenter="dc-a"),
        cpu=CpuInfo(sockets=1, physical_cores=64, logical_cores=128), memory=MemoryInfo(total_bytes=512 * GIB),
        block_devices=[BlockDevice(name="sda", size_bytes=TB),
                       BlockDevice(name="sdb", size_bytes=64 * 10**9, removable=True)],
        filesystems=[_nfs("nfs1:/a", 100 * TB), _nfs("nfs2:/b", 50 * TB)],
        network_interfaces=[NetworkInterface(name="e0", link_up=True, speed_mbps=25_000),
                            NetworkInterface(name="e1", link_up=True, speed_mbps=25_000),
                            NetworkInterface(name="e2", link_up=True, speed_mbps=100_000)])


def _other_province_node() -> Inventory:
    """In CN-JS, mounting the same export a as the others (a shared source across groups)."""
    return Inventory(host=HostIdentity(hostname="js1"), location=Location(province="CN-JS", datacenter="dc-b"),
                     cpu=CpuInfo(sockets=1, physical_cores=8, logical_cores=8),
                     memory=MemoryInfo(total_bytes=64 * GIB), filesystems=[_nfs("nfs1:/a", 100 * TB)])


@pytest.fixture
def ledger() -> Ledger:
    ledger = Ledger([_Rack("dc-a", "CN-SD", 10.0), _Rack("dc-a", "CN-SD", 5.0), _Rack("dc-b", "CN-JS", 12.5)])
    ledger.record(0, _gpu_node())
    ledger.record(1, _cpu_node())
    ledger.record(2, _other_province_node())
    return ledger


def test_fleet_totals_by_hand(ledger: Ledger) -> None:
    totals = ledger.totals()
    assert totals.nodes == 3
    assert totals.physical_cores == 112 + 64 + 8
    assert totals.logical_cores == 224 + 128 + 8
    assert totals.memory_bytes == (2048 + 512 + 64) * GIB
    assert dict(totals.accelerators) == {"NVIDIA H100 80GB HBM3": 8}
    assert dict(totals.catalog_accelerators) == {"NVIDIA H100 SXM5 80GB": 8}
    assert totals.local_storage_bytes == 2 * 3_840 * 10**9 + TB  # the removable stick is not storage
    assert totals.network_storage_bytes == 150 * TB  # a once though mounted three times, b once
    assert totals.storage_bytes == 7_680 * 10**9 + TB + 150 * TB
    assert (totals.ports_400g, totals.ports_200g, totals.ports_100g) == (8, 2, 1)
    assert totals.racks == 3 and totals.standard_racks == pytest.approx(27.5 / 2.5)


def test_totals_by_province_count_shared_sources_once_per_group(ledger: Ledger) -> None:
    by_province = ledger.totals_by("province")
    assert set(by_province) == {"CN-SD", "CN-JS"}
    assert by_province["CN-SD"].nodes == 2 and by_province["CN-JS"].nodes == 1
    assert by_province["CN-SD"].network_storage_bytes == 150 * TB
    assert by_province["CN-JS"].network_storage_bytes == 100 * TB
    assert by_province["CN-SD"].standard_racks == pytest.approx(6.0)
    assert by_province["CN-JS"].standard_racks == pytest.approx(5.0)
    with pytest.raises(ValueError):
        ledger.totals_by("rack_unit")


def test_catalog_flops_are_eight_h100_datasheets_plus_cpus(ledger: Ledger) -> None:
    from suanli.catalog import match_accelerator

    h100 = match_accelerator("nvidia", "NVIDIA H100 80GB HBM3", 81559 * 2**20)
    assert ledger.totals().flops["fp16"] == pytest.approx(8 * h100.peak_flops["fp16"])


def test_a_newer_inventory_replaces_the_node_and_lost_gpus_are_unknown(ledger: Ledger) -> None:
    degraded = _gpu_node()
    degraded.accelerators[5] = Accelerator(vendor="nvidia", index=5, error="GPU is lost")
    ledger.record(0, degraded)
    totals = ledger.totals()
    assert totals.nodes == 3
    assert dict(totals.accelerators) == {"NVIDIA H100 80GB HBM3": 7}
    assert dict(totals.catalog_accelerators) == {"NVIDIA H100 SXM5 80GB": 7, "unknown": 1}
    assert totals.accelerators_lost == 1
    ledger.forget(0)
    assert ledger.totals().nodes == 2 and ledger.nodes() == [1, 2]
