"""A certificate's capacity comes from the inventory and the catalog, without the excluded devices."""

from __future__ import annotations

from typing import Any

from suanli.catalog import match_accelerator
from suanli.controlplane.certification.capacity import certified_capacity, network_source_key
from suanli.schema import Inventory

H100 = "NVIDIA H100 80GB HBM3"
H100_BYTES = 85899345920


def _inventory(gpus: int = 2, **extra: Any) -> Inventory:
    document = {
        "host": {"hostname": "gpu-1"},
        "cpu": {"sockets": 2, "physical_cores": 64, "logical_cores": 128, "base_mhz": 2000.0,
                "isa_features": ["avx2", "fma"], "model": "Some x86 CPU"},
        "memory": {"total_bytes": 2**40},
        "accelerators": [
            {"vendor": "nvidia", "index": i, "model": H100, "uuid": f"GPU-{i}", "memory_total_bytes": H100_BYTES}
            for i in range(gpus)
        ],
        "block_devices": [
            {"name": "nvme0n1", "size_bytes": 4 * 10**12},
            {"name": "sdz", "size_bytes": 10**9, "removable": True},
        ],
        "filesystems": [
            {"mountpoint": "/data", "device": "nas:/data", "fstype": "nfs4", "size_bytes": 10**15,
             "used_bytes": 0, "available_bytes": 10**15, "is_network": True, "network_source": "nas:/data"},
        ],
        "network_interfaces": [
            {"name": "ib0", "kind": "infiniband", "link_up": True, "ib_rate_gbps": 400.0},
            {"name": "eth0", "link_up": True, "speed_mbps": 200_000},
            {"name": "eth1", "link_up": True, "speed_mbps": 100_000},
            {"name": "eth2", "link_up": False, "speed_mbps": 400_000},
            {"name": "eth3", "link_up": True, "speed_mbps": 25_000},
        ],
    }
    return Inventory.model_validate(document | extra)


def test_capacity_counts_cpu_memory_gpus_storage_and_ports() -> None:
    spec = match_accelerator("nvidia", H100, H100_BYTES)
    assert spec is not None
    capacity = certified_capacity(_inventory(), "jinan-1")
    assert (capacity.cpu_physical_cores, capacity.cpu_logical_cores, capacity.memory_bytes) == (64, 128, 2**40)
    assert capacity.accelerators == {spec.model: 2}
    assert capacity.flops.fp16 == 2 * spec.peak_flops["fp16"]
    assert capacity.flops.fp64 > 2 * spec.peak_flops["fp64"]  # the CPUs add their estimate
    assert capacity.storage_local_bytes == 4 * 10**12
    assert capacity.network_storage == {network_source_key("jinan-1", "nas:/data"): 10**15}
    assert (capacity.ports_400g, capacity.ports_200g, capacity.ports_100g) == (1, 1, 1)


def test_excluded_device_leaves_the_capacity_and_the_rest_stays() -> None:
    full = certified_capacity(_inventory(gpus=8), "jinan-1")
    degraded = certified_capacity(_inventory(gpus=8), "jinan-1", excluded_accelerators=[3])
    assert list(degraded.accelerators.values()) == [7]
    assert degraded.flops.fp16 == full.flops.fp16 * 7 / 8
    assert degraded.cpu_physical_cores == full.cpu_physical_cores


def test_same_export_in_two_data_centers_is_two_sources() -> None:
    assert network_source_key("jinan-1", "10.0.0.5:/data") != network_source_key("qingdao-1", "10.0.0.5:/data")
