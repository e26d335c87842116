"""A stand-in for the collector runner: fixed, valid inventory and usage, with a hardware change switch."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from suanli.schema import CollectorStatus, Inventory, Usage


class FakeCollection:
    """Returns a small host; `gpu_count` can be changed to simulate a GPU falling off the bus."""

    def __init__(self, gpu_count: int = 2) -> None:
        self.gpu_count = gpu_count
        self.usage_calls = 0
        self.inventory_calls = 0
        self.used_bytes = 10 * 2**30
        self.closed = False

    def inventory(self) -> Inventory:
        self.inventory_calls += 1
        self.used_bytes += 4096  # filesystem fill level moves every time: must not count as a change
        return Inventory.model_validate(
            {
                "host": {"hostname": "gpu-node-07", "machine_id": "0" * 31 + "7"},
                "cpu": {"sockets": 2, "physical_cores": 64, "logical_cores": 128},
                "memory": {"total_bytes": 512 * 2**30},
                "accelerators": [
                    {"vendor": "nvidia", "index": i, "model": "NVIDIA H100 80GB HBM3", "uuid": f"GPU-{i:04d}"}
                    for i in range(self.gpu_count)
                ],
                "filesystems": [
                    {
                        "mountpoint": "/",
                        "device": "/dev/nvme0n1p2",
                        "fstype": "ext4",
                        "size_bytes": 100 * 2**30,
                        "used_bytes": self.used_bytes,
                        "available_bytes": 100 * 2**30 - self.used_bytes,
                    }
                ],
                "collectors": [_status("cpu", self.inventory_calls), _status("gpu", self.inventory_calls)],
            }
        )

    def usage(self) -> Usage:
        self.usage_calls += 1
        return Usage(cpu_percent=12.5, load_1m=1.0, memory_used_bytes=2**30, collectors=[_status("cpu", 1)])

    def close(self) -> None:
        self.closed = True


def _status(name: str, call: int) -> CollectorStatus:
    return CollectorStatus(name=name, state="ok", duration_ms=float(call))


def agent_config(state_dir: Any, server_url: str = "", **overrides: Any) -> SimpleNamespace:
    """The AgentConfig keys the service reads, with test-friendly defaults (short intervals)."""
    values = dict(
        server_url=server_url,
        state_dir=state_dir,
        usage_interval_s=30.0,
        inventory_interval_s=900.0,
        delivery_interval_s=5.0,
        jitter_fraction=0.1,
        collector_timeout_s=5.0,
        spool_max_bytes=64 * 2**20,
        spool_max_reports=100_000,
        batch_max_reports=200,
        tls_verify=True,
        ca_bundle=None,
        request_timeout_s=5.0,
        shutdown_flush_s=2.0,
        log_level="info",
    )
    values.update(overrides)
    return SimpleNamespace(**values)
