"""A node with NVIDIA GPUs (fake NVML) and Ascend NPUs (npu-smi fixture) reports both, each device once."""

from __future__ import annotations

from pathlib import Path

from fakes.fake_nvml import eight_h100
from fakes.vendor_tools import install_npu_smi

from suanli.agent.backends.ascend import AscendBackend
from suanli.agent.backends.cambricon import CambriconBackend
from suanli.agent.backends.hygon import HygonBackend
from suanli.agent.backends.nvml import NvmlBackend
from suanli.agent.backends.tool import ToolRunner
from suanli.agent.collectors.accelerators import INDEX_BLOCK, AcceleratorsCollector
from suanli.agent.collectors.base import MESSAGE_KEY, CollectContext
from suanli.agent.nvml import Nvml
from suanli.catalog import match_accelerator
from suanli.schema import Inventory, Usage


def test_nvidia_and_ascend_on_one_node(tmp_path: Path) -> None:
    install_npu_smi(tmp_path, "npu-smi-info-8x910b3.txt")
    runner = ToolRunner(search_path=str(tmp_path), timeout_s=5.0)
    collector = AcceleratorsCollector([
        NvmlBackend(Nvml(eight_h100())), AscendBackend(runner), HygonBackend(runner), CambriconBackend(runner),
    ])
    fragment = collector.inventory(CollectContext())
    assert fragment.pop(MESSAGE_KEY).startswith("nvml: 8 device(s); ascend: 8 device(s); hygon: unavailable")
    inventory = Inventory.model_validate({"host": {"hostname": "mixed-1"}, **fragment})

    by_vendor = {}
    for device in inventory.accelerators:
        by_vendor.setdefault(device.vendor.value, []).append(device)
    assert {vendor: len(devices) for vendor, devices in by_vendor.items()} == {"nvidia": 8, "huawei": 8}
    indexes = [device.index for device in inventory.accelerators]
    assert len(set(indexes)) == 16 and indexes[8:] == [INDEX_BLOCK + i for i in range(8)]
    assert len({device.uuid for device in inventory.accelerators}) == 16
    keys = {match_accelerator(d.vendor, d.model, d.memory_total_bytes).key for d in inventory.accelerators}
    assert keys == {"nvidia-h100-sxm5-80gb", "huawei-ascend-910b3"}

    statuses = {status.name: status for status in inventory.accelerator_backends}
    assert [statuses[name].available for name in ("nvml", "ascend", "hygon", "cambricon")] == [True, True, False, False]
    assert "cnmon not found" in statuses["cambricon"].reason

    usage = Usage.model_validate(collector.usage(CollectContext()))
    assert [sample.index for sample in usage.accelerators] == indexes
    uuids = {d.index: d.uuid for d in inventory.accelerators}
    assert all(sample.uuid == uuids[sample.index] for sample in usage.accelerators)
