"""The accelerators collector over fake NVML scenarios: devices, statuses, lost GPUs, no driver, unknown models."""

from __future__ import annotations

import pytest
from fakes.fake_nvml import (
    FakeNvml,
    driver_not_loaded,
    eight_h100,
    field_not_supported,
    library_missing,
    one_gpu_lost,
    unknown_model,
)

from suanli.agent.backends.base import AcceleratorBackend, BackendInventory
from suanli.agent.backends.nvml import NvmlBackend
from suanli.agent.collectors.accelerators import INDEX_BLOCK, AcceleratorsCollector
from suanli.agent.collectors.base import MESSAGE_KEY, CollectContext, NoData
from suanli.agent.nvml import Nvml
from suanli.catalog import match_accelerator, memory_consistent
from suanli.schema import Inventory, Usage

CONTEXT = CollectContext()


def _collector(fake: FakeNvml) -> AcceleratorsCollector:
    return AcceleratorsCollector([NvmlBackend(Nvml(fake))])


def _inventory(collector: AcceleratorsCollector) -> Inventory:
    fragment = collector.inventory(CONTEXT)
    fragment.pop(MESSAGE_KEY)
    return Inventory.model_validate({"host": {"hostname": "node-1"}, **fragment})


def _usage(collector: AcceleratorsCollector) -> Usage:
    return Usage.model_validate(collector.usage(CONTEXT))


def test_eight_h100_node() -> None:
    collector = _collector(eight_h100())
    inventory = _inventory(collector)
    assert len(inventory.accelerators) == 8
    (status,) = inventory.accelerator_backends
    assert (status.name, status.available, status.device_count, status.reason) == ("nvml", True, 8, None)
    for gpu in inventory.accelerators:
        spec = match_accelerator(gpu.vendor, gpu.model, gpu.memory_total_bytes)
        assert spec is not None and spec.key == "nvidia-h100-sxm5-80gb"
        assert memory_consistent(spec, gpu.memory_total_bytes)
    usage = _usage(collector)
    assert [sample.index for sample in usage.accelerators] == list(range(8))
    assert all(sample.power_w == 312.5 for sample in usage.accelerators)


def test_one_gpu_lost_others_collected() -> None:
    collector = _collector(one_gpu_lost(lost_index=5))
    inventory = _inventory(collector)
    lost = [gpu for gpu in inventory.accelerators if gpu.error]
    assert [(gpu.index, gpu.error) for gpu in lost] == [(5, "GPU is lost")]
    assert sum(1 for gpu in inventory.accelerators if gpu.uuid) == 7
    assert inventory.accelerator_backends[0].device_count == 8
    usage = _usage(collector)
    assert usage.accelerators[5].error == "GPU is lost"
    assert usage.accelerators[6].utilization_percent == 37.0


def test_unsupported_field_is_null_not_an_error() -> None:
    inventory = _inventory(_collector(field_not_supported()))
    (gpu,) = inventory.accelerators
    assert gpu.serial is None and gpu.error is None
    assert match_accelerator(gpu.vendor, gpu.model).key == "nvidia-geforce-rtx-4090-24gb"


@pytest.mark.parametrize("scenario", [driver_not_loaded, library_missing])
def test_no_driver_zero_accelerators_with_reason(scenario) -> None:
    collector = _collector(scenario())
    fragment = collector.inventory(CONTEXT)
    assert "unavailable" in fragment[MESSAGE_KEY]
    inventory = _inventory(collector)
    assert inventory.accelerators == []
    (status,) = inventory.accelerator_backends
    assert status.available is False and status.device_count == 0
    assert "NVML initialisation failed" in status.reason
    with pytest.raises(NoData, match="nvml"):
        collector.usage(CONTEXT)


def test_unknown_model_stays_unknown() -> None:
    inventory = _inventory(_collector(unknown_model()))
    (gpu,) = inventory.accelerators
    assert gpu.model == "NVIDIA Prototype X1" and gpu.error is None
    assert match_accelerator(gpu.vendor, gpu.model, gpu.memory_total_bytes) is None


def test_driver_lost_mid_run() -> None:
    fake = eight_h100()
    collector = _collector(fake)
    assert len(_inventory(collector).accelerators) == 8
    fake.lose_driver()
    with pytest.raises(NoData, match="driver lost"):
        collector.usage(CONTEXT)
    inventory = _inventory(collector)
    assert inventory.accelerators == [] and inventory.accelerator_backends[0].available is False


class _Broken(AcceleratorBackend):
    name = "broken"

    def inventory(self) -> BackendInventory:
        raise RuntimeError("parser bug")

    def usage(self):
        raise RuntimeError("parser bug")


def test_a_broken_backend_does_not_hide_the_others() -> None:
    collector = AcceleratorsCollector([NvmlBackend(Nvml(eight_h100())), _Broken()])
    inventory = _inventory(collector)
    assert len(inventory.accelerators) == 8
    broken = inventory.accelerator_backends[1]
    assert broken.available is False and "parser bug" in broken.reason
    assert len(_usage(collector).accelerators) == 8


def test_second_backend_gets_its_own_index_block() -> None:
    collector = AcceleratorsCollector([NvmlBackend(Nvml(field_not_supported())), NvmlBackend(Nvml(eight_h100()))])
    indexes = [gpu.index for gpu in _inventory(collector).accelerators]
    assert indexes == [0] + [INDEX_BLOCK + i for i in range(8)]
    assert [s.index for s in _usage(collector).accelerators] == indexes


def test_default_backends_are_created_lazily_and_closed() -> None:
    fake = eight_h100()
    made = []

    def factory():
        made.append(1)
        return [NvmlBackend(Nvml(fake))]

    collector = AcceleratorsCollector(backend_factory=factory)
    assert made == []
    collector.usage(CONTEXT)
    collector.inventory(CONTEXT)
    assert made == [1]
    collector.close()
    assert fake.shutdown_calls == 1
