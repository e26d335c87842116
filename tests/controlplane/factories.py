"""Builders of inventories, usage and report batches for control-plane tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from suanli.schema import Inventory, InventoryReport, ReportBatch, Usage, UsageReport

H100_BYTES = 85_520_809_984  # what NVML reports for an H100 80GB HBM3
# A day ago on the hour: inside the server's sent_at window whenever the tests run, and aligned
# to the 15-minute downsampling buckets.
T0 = (datetime.now(timezone.utc) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def inventory(
    hostname: str = "gpu-001",
    datacenter: str | None = "dc-jinan-1",
    province: str | None = "CN-SD",
    rack: str | None = "R01",
    gpus: int = 8,
    gpu_model: str = "NVIDIA H100 80GB HBM3",
    memory_bytes: int = 2 * 2**40,
    disks_bytes: tuple[int, ...] = (3_840_000_000_000, 3_840_000_000_000),
    nfs: tuple[tuple[str, int], ...] = (("nas1:/export/data", 500 * 10**12),),
    ports_mbps: tuple[int, ...] = (400_000, 100_000),
) -> Inventory:
    """A plausible GPU server; every figure the aggregates count can be set."""
    data: dict[str, Any] = {
        "host": {"hostname": hostname, "machine_id": f"{abs(hash(hostname)):032x}"[-32:]},
        "location": {"province": province, "datacenter": datacenter, "rack": rack},
        "cpu": {
            "model": "Intel(R) Xeon(R) Platinum 8480+", "vendor": "GenuineIntel", "sockets": 2,
            "physical_cores": 112, "logical_cores": 224, "base_mhz": 2000.0, "max_mhz": 3800.0,
            "isa_features": ["avx2", "fma", "avx512f", "amx_tile"],
        },
        "memory": {"total_bytes": memory_bytes},
        "accelerators": [
            {"vendor": "nvidia", "index": i, "model": gpu_model, "uuid": f"GPU-{hostname}-{i}",
             "memory_total_bytes": H100_BYTES}
            for i in range(gpus)
        ],
        "block_devices": [
            {"name": f"nvme{i}n1", "size_bytes": size, "media": "nvme"} for i, size in enumerate(disks_bytes)
        ],
        "filesystems": [
            {"mountpoint": f"/mnt/nfs{i}", "device": src, "fstype": "nfs4", "size_bytes": size,
             "used_bytes": 0, "available_bytes": size, "is_network": True, "network_source": src}
            for i, (src, size) in enumerate(nfs)
        ],
        "network_interfaces": [
            {"name": f"eth{i}", "link_up": True, "speed_mbps": speed} for i, speed in enumerate(ports_mbps)
        ],
    }
    return Inventory.model_validate(data)


def usage(gpu_utilization: tuple[float, ...] = (), cpu_percent: float = 10.0) -> Usage:
    return Usage.model_validate(
        {
            "cpu_percent": cpu_percent,
            "memory_used_bytes": 2**30,
            "accelerators": [
                {"index": i, "utilization_percent": u} for i, u in enumerate(gpu_utilization)
            ],
        }
    )


def usage_report(node_id: str, seq: int, body: Usage | None = None) -> UsageReport:
    return UsageReport(node_id=node_id, seq=seq, sent_at=T0 + timedelta(seconds=30 * seq), body=body or usage())


def inventory_report(node_id: str, seq: int, body: Inventory) -> InventoryReport:
    return InventoryReport(node_id=node_id, seq=seq, sent_at=T0 + timedelta(seconds=30 * seq), body=body)


def batch_json(*reports: InventoryReport | UsageReport) -> str:
    return ReportBatch(reports=list(reports)).model_dump_json(by_alias=True)
